{{/* Names, labels and the checks every template shares. */}}

{{- define "megatts3.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-<chart>", or the release name alone when it already contains the chart name. */}}
{{- define "megatts3.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "megatts3.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "megatts3.labels" -}}
helm.sh/chart: {{ include "megatts3.chart" . }}
{{ include "megatts3.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "megatts3.selectorLabels" -}}
app.kubernetes.io/name: {{ include "megatts3.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The API pods' selector (the worker's pods have component=worker and are not selected). */}}
{{- define "megatts3.apiSelectorLabels" -}}
{{ include "megatts3.selectorLabels" . }}
app.kubernetes.io/component: api
{{- end }}

{{- define "megatts3.workerSelectorLabels" -}}
{{ include "megatts3.selectorLabels" . }}
app.kubernetes.io/component: worker
{{- end }}

{{- define "megatts3.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "megatts3.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "megatts3.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The chart's Secret, or the user's existing one. */}}
{{- define "megatts3.secretName" -}}
{{- default (printf "%s-secret" (include "megatts3.fullname" .)) .Values.secret.existingSecret }}
{{- end }}

{{/* "true" when the voices live in PostgreSQL. */}}
{{- define "megatts3.postgres" -}}
{{- if or .Values.postgres.url .Values.postgres.existingSecret }}true{{ end }}
{{- end }}

{{/* "true" when an autoscaler (HPA or KEDA) owns the replica count. */}}
{{- define "megatts3.autoscaled" -}}
{{- if or .Values.autoscaling.enabled .Values.keda.enabled }}true{{ end }}
{{- end }}

{{/* The fewest API pods the chart asks for. */}}
{{- define "megatts3.minReplicas" -}}
{{- if .Values.keda.enabled }}
{{- .Values.keda.minReplicaCount | int }}
{{- else if .Values.autoscaling.enabled }}
{{- .Values.autoscaling.minReplicas | int }}
{{- else }}
{{- .Values.replicaCount | int }}
{{- end }}
{{- end }}

{{/* Seconds a stopping pod gets: apiTimeoutSeconds + 30 unless set, and always more than the preStop sleep
plus the timeout (after SIGTERM the server lets the requests in flight run up to api.timeout). */}}
{{- define "megatts3.terminationGracePeriodSeconds" -}}
{{- $timeout := .Values.apiTimeoutSeconds | int }}
{{- if le $timeout 0 }}
{{- fail (printf "apiTimeoutSeconds must be a positive number of seconds (got %v)" .Values.apiTimeoutSeconds) }}
{{- end }}
{{- $preStop := .Values.preStopSleepSeconds | int }}
{{- $grace := add $timeout 30 }}
{{- if not (kindIs "invalid" .Values.terminationGracePeriodSeconds) }}
{{- if ne (toString .Values.terminationGracePeriodSeconds) "" }}
{{- $grace = .Values.terminationGracePeriodSeconds | int }}
{{- end }}
{{- end }}
{{- if le $grace (add $timeout $preStop) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than apiTimeoutSeconds (%d, api.timeout) plus preStopSleepSeconds (%d): a stopping pod must be able to finish the requests it is serving. Raise it, or leave it empty for apiTimeoutSeconds + 30." $grace $timeout $preStop) }}
{{- end }}
{{- $grace }}
{{- end }}

{{/* Value combinations that cannot work, refused with the reason. */}}
{{- define "megatts3.validate" -}}
{{- if .Values.secret.existingSecret }}
{{- $inline := list }}
{{- if .Values.auth.apiKeys }}{{ $inline = append $inline "auth.apiKeys" }}{{ end }}
{{- if .Values.auth.unlimitedKeys }}{{ $inline = append $inline "auth.unlimitedKeys" }}{{ end }}
{{- if .Values.auth.adminKeys }}{{ $inline = append $inline "auth.adminKeys" }}{{ end }}
{{- if .Values.postgres.url }}{{ $inline = append $inline "postgres.url" }}{{ end }}
{{- if .Values.redis.cacheUrl }}{{ $inline = append $inline "redis.cacheUrl" }}{{ end }}
{{- if .Values.redis.rateLimitUrl }}{{ $inline = append $inline "redis.rateLimitUrl" }}{{ end }}
{{- if $inline }}
{{- fail (printf "secret.existingSecret is set, so the chart creates no Secret for %s: put them in %q (MEGATTS3_API_KEYS, MEGATTS3_UNLIMITED_API_KEYS, MEGATTS3_ADMIN_API_KEYS, MEGATTS3_DATABASE_URL with postgres.existingSecret, MEGATTS3_REDIS_URL with MEGATTS3_CACHE_BACKEND=redis, MEGATTS3_RATE_LIMIT_STORAGE) and leave them empty here" (join ", " $inline) .Values.secret.existingSecret) }}
{{- end }}
{{- end }}
{{- if and .Values.postgres.url .Values.postgres.existingSecret }}
{{- fail "set postgres.url or postgres.existingSecret, not both" }}
{{- end }}
{{- if and .Values.worker.enabled (not (include "megatts3.postgres" .)) }}
{{- fail "worker.enabled needs postgres.url or postgres.existingSecret: the worker finds the enrollment jobs in the voice store shared with the API pods, and the default SQLite store is private to each pod" }}
{{- end }}
{{- if and .Values.keda.enabled (not .Values.keda.serverAddress) }}
{{- fail "keda.enabled needs keda.serverAddress: the URL of the Prometheus that KEDA queries for megatts3_queue_depth" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not .Values.keda.enabled) (gt (.Values.autoscaling.minReplicas | int) (.Values.autoscaling.maxReplicas | int)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.keda.enabled (gt (.Values.keda.minReplicaCount | int) (.Values.keda.maxReplicaCount | int)) }}
{{- fail "keda.minReplicaCount must not exceed keda.maxReplicaCount" }}
{{- end }}
{{- end }}

{{/* The pod parts the API and worker Deployments share: environment, volumes and their mounts. */}}
{{- define "megatts3.envFrom" -}}
- configMapRef:
    name: {{ include "megatts3.fullname" . }}-env
{{- if or .Values.secret.existingSecret (include "megatts3.chartSecret" .) }}
- secretRef:
    name: {{ include "megatts3.secretName" . }}
{{- end }}
{{- end }}

{{/* "true" when the chart creates its own Secret (it has something to keep in it). */}}
{{- define "megatts3.chartSecret" -}}
{{- if and (not .Values.secret.existingSecret) (or .Values.auth.apiKeys .Values.auth.unlimitedKeys .Values.auth.adminKeys .Values.postgres.url .Values.redis.cacheUrl .Values.redis.rateLimitUrl) }}true{{ end }}
{{- end }}

{{- define "megatts3.env" -}}
{{- if .Values.postgres.existingSecret }}
- name: MEGATTS3_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgres.existingSecret }}
      key: {{ .Values.postgres.existingSecretKey }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "megatts3.volumeMounts" -}}
- name: config
  mountPath: {{ .Values.config.mountPath }}
  readOnly: true
- name: storage
  mountPath: /app/storage
- name: logs
  mountPath: /app/logs
- name: tmp
  mountPath: /tmp
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Call with (dict "root" $ "worker" BOOL): the worker's storage is always an emptyDir, since it
needs postgres and keeps nothing of its own (and a ReadWriteOnce claim would tie it to the API pod's node). */}}
{{- define "megatts3.volumes" -}}
{{- $root := .root }}
{{- $persistence := $root.Values.persistence -}}
- name: config
  configMap:
    name: {{ include "megatts3.fullname" $root }}-config
- name: storage
{{- if and $persistence.enabled (not .worker) }}
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-storage" (include "megatts3.fullname" $root)) $persistence.existingClaim }}
{{- else if $persistence.emptyDirSizeLimit }}
  emptyDir:
    sizeLimit: {{ $persistence.emptyDirSizeLimit }}
{{- else }}
  emptyDir: {}
{{- end }}
- name: logs
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- with $root.Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod annotations that roll the pods when their configuration changes. */}}
{{- define "megatts3.checksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
