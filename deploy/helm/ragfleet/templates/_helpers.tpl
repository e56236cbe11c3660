{{/*
ragfleet.name: the chart name, overridable with nameOverride.
*/}}
{{- define "ragfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ragfleet.fullname: the release-qualified base name of every object.
*/}}
{{- define "ragfleet.fullname" -}}
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

{{/*
ragfleet.componentName: "<fullname>-<component>"; call with (dict "root" $ "component" "api").
*/}}
{{- define "ragfleet.componentName" -}}
{{- printf "%s-%s" (include "ragfleet.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ragfleet.chart: chart name and version for the helm.sh/chart label.
*/}}
{{- define "ragfleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ragfleet.selectorLabels: immutable selector labels (name, instance, component only).
Call with (dict "root" $ "component" "api").
*/}}
{{- define "ragfleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ragfleet.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
ragfleet.labels: the full label set of an object. Call with (dict "root" $ "component" "api").
*/}}
{{- define "ragfleet.labels" -}}
helm.sh/chart: {{ include "ragfleet.chart" .root }}
{{ include "ragfleet.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ragfleet
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
ragfleet.serviceAccountName: the ServiceAccount the pods run as.
*/}}
{{- define "ragfleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ragfleet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
ragfleet.image: "repository@digest" when a digest is set, else "repository:tag" with an empty tag
meaning the chart's appVersion. Call with (dict "root" $ "image" .Values.api.image).
*/}}
{{- define "ragfleet.image" -}}
{{- $tag := default .root.Chart.AppVersion .image.tag }}
{{- if eq $tag "latest" }}
{{- fail "image tags must be pinned: \"latest\" is refused" }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/*
ragfleet.scheduling: nodeSelector and tolerations of the node pool a component runs on.
Call with (dict "root" $ "pool" "general").
*/}}
{{- define "ragfleet.scheduling" -}}
{{- $pool := index .root.Values.nodePools .pool }}
{{- if not $pool }}
{{- fail (printf "nodePools.%s is not defined" .pool) }}
{{- end }}
{{- with $pool.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $pool.tolerations }}
{{- $tolerations := list }}
{{- range $name, $toleration := . }}
{{- $tolerations = append $tolerations $toleration }}
{{- end }}
tolerations:
  {{- toYaml $tolerations | nindent 2 }}
{{- end }}
{{- end }}

{{/*
ragfleet.topologySpread: spread a component's pods across zones and nodes.
Call with (dict "root" $ "component" "api" "spread" .Values.api.topologySpread).
*/}}
{{- define "ragfleet.topologySpread" -}}
{{- if .spread.enabled }}
topologySpreadConstraints:
  {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: {{ $.spread.maxSkew }}
    topologyKey: {{ $key }}
    whenUnsatisfiable: {{ $.spread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "ragfleet.selectorLabels" $ | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
  {{- end }}
{{- end }}
{{- end }}

{{/*
ragfleet.podSecurityContext: non-root pod security context shared by every workload.
*/}}
{{- define "ragfleet.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
ragfleet.containerSecurityContext: locked-down container security context.
*/}}
{{- define "ragfleet.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/*
ragfleet.appEnv: environment of the ragfleet containers: the settings ConfigMap plus secrets,
each by reference to .Values.secrets.existingSecret (never a literal value).
*/}}
{{- define "ragfleet.appEnv" -}}
envFrom:
  - configMapRef:
      name: {{ include "ragfleet.componentName" (dict "root" . "component" "config") }}
{{- with .Values.secrets.existingSecret }}
env:
  {{- include "ragfleet.secretEnv" $ | nindent 2 }}
{{- end }}
{{- end }}

{{/*
ragfleet.secretEnv: the secret settings, each a secretKeyRef into .Values.secrets.existingSecret.
Behind Sentinel the Sentinels' password is the Redis password (secrets.keys.redisPassword).
*/}}
{{- define "ragfleet.secretEnv" -}}
{{- $keys := .Values.secrets.keys }}
{{- $env := dict "RAGFLEET_DATABASE__URL" $keys.databaseUrl "RAGFLEET_REDIS__URL" $keys.redisUrl "RAGFLEET_QDRANT__API_KEY" $keys.qdrantApiKey "RAGFLEET_AUTH__API_KEYS" $keys.authApiKeys "RAGFLEET_SERVER__METRICS_TOKEN" $keys.metricsToken }}
{{- if .Values.infra.redisSentinel.enabled }}
{{- $_ := set $env "RAGFLEET_REDIS__SENTINEL_PASSWORD" $keys.redisPassword }}
{{- end }}
{{- range $envName, $key := $env }}
- name: {{ $envName }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.secrets.existingSecret }}
      key: {{ $key }}
{{- end }}
{{- end }}

{{/*
ragfleet.tmpVolume: the writable emptyDir mounted at /tmp (root filesystems are read-only).
*/}}
{{- define "ragfleet.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end }}

{{/*
ragfleet.llmBaseUrl: the LLM endpoint: config.llm.baseUrl, else the in-cluster inference Service.
*/}}
{{- define "ragfleet.llmBaseUrl" -}}
{{- if .Values.config.llm.baseUrl }}
{{- .Values.config.llm.baseUrl }}
{{- else if .Values.inference.enabled }}
{{- printf "http://%s:%d/v1" (include "ragfleet.componentName" (dict "root" . "component" "inference")) (int .Values.inference.service.port) }}
{{- end }}
{{- end }}

{{/*
ragfleet.embeddingsBaseUrl: config.embeddings.baseUrl, else the in-cluster embeddings Service.
*/}}
{{- define "ragfleet.embeddingsBaseUrl" -}}
{{- if .Values.config.embeddings.baseUrl }}
{{- .Values.config.embeddings.baseUrl }}
{{- else if .Values.embeddings.enabled }}
{{- printf "http://%s:%d/v1" (include "ragfleet.componentName" (dict "root" . "component" "embeddings")) (int .Values.embeddings.containerPort) }}
{{- else if eq .Values.config.embeddings.backend "openai" }}
{{- fail "config.embeddings.baseUrl is required when embeddings.enabled is false" }}
{{- end }}
{{- end }}

{{/*
ragfleet.servedModelName: the model name vLLM serves and the api requests.
*/}}
{{- define "ragfleet.servedModelName" -}}
{{- default .Values.inference.model.name .Values.inference.model.servedName }}
{{- end }}
