"""intake's pages for people (brief §7.4): server-rendered HTML, outside the `/v1` API and its
OpenAPI document. Today: the one-click answer links of offer e-mails (`/answer/{token}`)."""
