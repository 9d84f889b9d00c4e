# Apache Kafka (KRaft) from the Maven Central jars the local stack runs: the same pom
# (deploy/local/kafka/pom.xml), so the image and `stax-local` run one Kafka version.
#   docker build -f deploy/docker/kafka.Dockerfile -t stax-kafka:4.3.1 .
# BASE_IMAGE: debian:bookworm-slim from a registry, or a local bookworm root (deploy/containers).
# The image holds the jars, a JRE and `kafka-java` (java with the jars on the classpath); the
# configuration comes from outside: deploy/compose/kafka/start-kafka.sh, or the test fixtures.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS jars
RUN apt-get update && apt-get install -y --no-install-recommends maven \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY deploy/local/kafka/pom.xml /build/pom.xml
RUN mvn -B -ntp -q -f /build/pom.xml dependency:copy-dependencies -DoutputDirectory=/opt/kafka/libs

FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 # uid 1000, as the apache/kafka image's appuser: compose's kafka-secrets hands it the key.
 && useradd --create-home --uid 1000 kafka \
 && mkdir -p /var/lib/kafka/data /opt/kafka/config && chown kafka /var/lib/kafka/data
COPY --from=jars /opt/kafka/libs /opt/kafka/libs
COPY deploy/local/kafka/log4j2.properties /opt/kafka/config/log4j2.properties
COPY deploy/docker/kafka-java /usr/local/bin/kafka-java
USER kafka
# Without arguments: the broker's version, a cheap check that the classpath is whole.
CMD ["kafka-java", "kafka.Kafka", "--version"]
