{{- define "vib.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "vib.labels" -}}
app.kubernetes.io/name: vllm-bench-worker
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: vllm-inference-benchmark
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "vib.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{- define "vib.bucket" -}}
{{ required "results.bucket is required: every load worker writes the run's records to it (a pod's local directory would be lost with the pod)" .Values.results.bucket }}
{{- end -}}

{{- define "vib.tokenSecret" -}}
{{ include "vib.fullname" . }}-hf-token
{{- end -}}

{{/* The pod settings every container of the chart shares. */}}
{{- define "vib.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "vib.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
{{- end -}}

{{- define "vib.scratchMounts" -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: home
    mountPath: /home/vib
{{- end -}}

{{- define "vib.scratchVolumes" -}}
volumes:
  - name: tmp
    emptyDir: {}
  - name: home
    emptyDir: {}
{{- end -}}

{{/* The specs as the Job starts them: Kubernetes specs deploy into the
release's namespace and use the chart's token Secret unless they say
otherwise. */}}
{{- define "vib.specs" -}}
{{- $specs := list -}}
{{- range .Values.benchmarkSpecs -}}
{{- $s := deepCopy . -}}
{{- if eq (toString (get $s "deploy")) "kubernetes" -}}
{{- if not (hasKey $s "namespace") -}}{{- $_ := set $s "namespace" $.Release.Namespace -}}{{- end -}}
{{- if and $.Values.hfToken (not (hasKey $s "hf_token_secret")) -}}{{- $_ := set $s "hf_token_secret" (include "vib.tokenSecret" $) -}}{{- end -}}
{{- end -}}
{{- $specs = append $specs $s -}}
{{- end -}}
{{- toPrettyJson $specs -}}
{{- end -}}
