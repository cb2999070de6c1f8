# The exporter's image, in the Prometheus exporters' style: the static
# binary that `make image` builds (CGO off, version stamped) is copied into
# a minimal base. BASE must hold nothing the exporter needs but a CA bundle
# for Elasticsearch's public certificates (give --es.ca-file for Calico's
# own); `make image BASE=scratch` builds one with the binary alone.
ARG BASE=gcr.io/distroless/static-debian12:nonroot
FROM ${BASE}
ARG OS=linux
ARG ARCH=amd64
LABEL org.opencontainers.image.title="calico-anomaly-exporter" \
      org.opencontainers.image.description="Anomaly scores from Calico flow, DNS and L7 logs, as Prometheus metrics and alerts" \
      org.opencontainers.image.source="https://github.com/calico-anomaly-exporter/calico-anomaly-exporter"
COPY .build/${OS}-${ARCH}/calico-anomaly-exporter /bin/calico-anomaly-exporter
EXPOSE 9925
# nobody, by number: scratch has no /etc/passwd to look a name up in.
USER 65534:65534
ENTRYPOINT ["/bin/calico-anomaly-exporter"]
