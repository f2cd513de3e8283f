// Package deploycheck holds tests only. They check the deployment files —
// docker-compose.yaml, Dockerfile, .dockerignore, prometheus/prometheus.yml,
// the Grafana provisioning and dashboard, examples/compose.json — against the
// Go sources they configure: flags, environment variables, ports, metric
// names. No Docker engine is needed.
package deploycheck
