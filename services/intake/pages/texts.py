"""The words of intake's pages, per language (en, fr, es, like the e-mails), and the choice of
one from the browser's Accept-Language."""

from __future__ import annotations

from typing import Literal

from services.intake.pages.app_texts import APP_TEXTS

Language = Literal["en", "fr", "es"]
LANGUAGES: tuple[Language, ...] = ("en", "fr", "es")

# Every language has every key: tests/intake/test_answer_pages.py checks.
TEXTS: dict[Language, dict[str, str]] = {
    "en": {
        "title.accept": "Accept this offer?",
        "title.decline": "Decline this offer?",
        "intro": "STAX offered this technical-assistance request to {partner}.",
        "request": "Request",
        "party": "Party",
        "topics": "Topics",
        "role": "Role",
        "role.lead": "lead",
        "role.support": "support",
        "respond_by": "Answer by",
        "partner": "Partner",
        "confirm.accept": "Confirm accept",
        "confirm.decline": "Confirm decline",
        "confirm.note": "Nothing is recorded until you confirm.",
        "done.title": "Thank you",
        "done.accept": "Your acceptance is recorded. The requester will be told.",
        "done.decline": "Your answer (declined) is recorded. The request goes to another partner.",
        "done.before": "This answer had already been recorded; nothing has changed.",
        "bad.title": "This link is not valid",
        "bad.text": "The link is incomplete or has been altered. Open it again from the e-mail.",
        "expired.title": "This link has expired",
        "expired.text": "The time to answer this offer has passed.",
        "used.title": "This link has already been used",
        "used.text": "Your answer was recorded the first time; nothing more is needed.",
        "conflict.title": "This offer cannot be answered so",
        "conflict.text": "It has already been answered, or it is no longer open: {reason}.",
        "unknown.title": "Offer not found",
        "unknown.text": "STAX does not know this offer (yet). Try again in a minute.",
        "csrf.title": "Please confirm again",
        "csrf.text": "The form had expired or did not come from this page. Open the link again.",
        "off.title": "Answer links are off",
        "off.text": "This STAX does not accept answers by e-mail link.",
        "busy.title": "Too many attempts",
        "busy.text": "Please wait a moment and try again.",
        "footer": "STAX — Stockholm Technical Assistance eXchange",
    },
    "fr": {
        "title.accept": "Accepter cette offre ?",
        "title.decline": "Refuser cette offre ?",
        "intro": "STAX a proposé cette demande d'assistance technique à {partner}.",
        "request": "Demande",
        "party": "Partie",
        "topics": "Thèmes",
        "role": "Rôle",
        "role.lead": "chef de file",
        "role.support": "appui",
        "respond_by": "Répondre avant le",
        "partner": "Partenaire",
        "confirm.accept": "Confirmer l'acceptation",
        "confirm.decline": "Confirmer le refus",
        "confirm.note": "Rien n'est enregistré avant votre confirmation.",
        "done.title": "Merci",
        "done.accept": "Votre acceptation est enregistrée. Le demandeur en sera informé.",
        "done.decline": "Votre refus est enregistré. La demande va à un autre partenaire.",
        "done.before": "Cette réponse était déjà enregistrée ; rien n'a changé.",
        "bad.title": "Ce lien n'est pas valide",
        "bad.text": "Le lien est incomplet ou a été modifié. Rouvrez-le depuis le courriel.",
        "expired.title": "Ce lien a expiré",
        "expired.text": "Le délai pour répondre à cette offre est passé.",
        "used.title": "Ce lien a déjà été utilisé",
        "used.text": "Votre réponse a été enregistrée la première fois ; rien de plus à faire.",
        "conflict.title": "Cette offre ne peut pas recevoir cette réponse",
        "conflict.text": "Elle a déjà reçu une réponse, ou n'est plus ouverte : {reason}.",
        "unknown.title": "Offre introuvable",
        "unknown.text": "STAX ne connaît pas (encore) cette offre. Réessayez dans une minute.",
        "csrf.title": "Veuillez confirmer à nouveau",
        "csrf.text": "Le formulaire a expiré ou ne vient pas de cette page. Rouvrez le lien.",
        "off.title": "Les liens de réponse sont désactivés",
        "off.text": "Ce STAX n'accepte pas de réponses par lien de courriel.",
        "busy.title": "Trop de tentatives",
        "busy.text": "Veuillez patienter un instant puis réessayer.",
        "footer": "STAX — Stockholm Technical Assistance eXchange",
    },
    "es": {
        "title.accept": "¿Aceptar esta oferta?",
        "title.decline": "¿Rechazar esta oferta?",
        "intro": "STAX ofreció esta solicitud de asistencia técnica a {partner}.",
        "request": "Solicitud",
        "party": "Parte",
        "topics": "Temas",
        "role": "Función",
        "role.lead": "líder",
        "role.support": "apoyo",
        "respond_by": "Responder antes del",
        "partner": "Socio",
        "confirm.accept": "Confirmar la aceptación",
        "confirm.decline": "Confirmar el rechazo",
        "confirm.note": "No se registra nada hasta que confirme.",
        "done.title": "Gracias",
        "done.accept": "Su aceptación quedó registrada. Se informará al solicitante.",
        "done.decline": "Su rechazo quedó registrado. La solicitud pasa a otro socio.",
        "done.before": "Esta respuesta ya estaba registrada; nada ha cambiado.",
        "bad.title": "Este enlace no es válido",
        "bad.text": "El enlace está incompleto o fue modificado. Ábralo de nuevo desde el correo.",
        "expired.title": "Este enlace ha caducado",
        "expired.text": "El plazo para responder a esta oferta ha pasado.",
        "used.title": "Este enlace ya se utilizó",
        "used.text": "Su respuesta se registró la primera vez; no hace falta nada más.",
        "conflict.title": "Esta oferta no admite esa respuesta",
        "conflict.text": "Ya fue respondida o ya no está abierta: {reason}.",
        "unknown.title": "Oferta no encontrada",
        "unknown.text": "STAX no conoce (todavía) esta oferta. Inténtelo de nuevo en un minuto.",
        "csrf.title": "Confirme de nuevo, por favor",
        "csrf.text": "El formulario caducó o no provino de esta página. Abra el enlace de nuevo.",
        "off.title": "Los enlaces de respuesta están desactivados",
        "off.text": "Este STAX no acepta respuestas por enlace de correo.",
        "busy.title": "Demasiados intentos",
        "busy.text": "Espere un momento e inténtelo de nuevo.",
        "footer": "STAX — Stockholm Technical Assistance eXchange",
    },
}


for _language, _words in APP_TEXTS.items():
    TEXTS[_language].update(_words)


def choose(accept_language: str | None) -> Language:
    """The browser's preferred language among ours (RFC 9110 weights), English otherwise."""
    best: tuple[float, Language] = (0.0, "en")
    for item in (accept_language or "")[:500].split(",")[:20]:
        tag, _, params = item.strip().partition(";")
        weight = _weight(params)
        primary = tag.strip().lower().split("-", 1)[0]
        for language in LANGUAGES:
            if primary == language and weight > best[0]:
                best = (weight, language)
    return best[1]


def _weight(params: str) -> float:
    name, _, value = params.strip().partition("=")
    if name.strip().lower() != "q":
        return 1.0
    try:
        weight = float(value)
    except ValueError:
        return 0.0
    return weight if 0.0 <= weight <= 1.0 else 0.0
