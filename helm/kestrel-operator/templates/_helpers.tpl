{{/*
Base name of every object: fullnameOverride, else the release name. Kept to 40 characters so the longest
suffixed name ("-aggregator-receivers") stays a valid 63-character DNS label.
*/}}
{{- define "kestrel.fullname" -}}
{{- $name := .Values.fullnameOverride | default .Release.Name -}}
{{- if gt (len $name) 40 -}}
{{- fail (printf "fullnameOverride / release name %q is longer than 40 characters (object names add suffixes up to 23 characters)" $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{- define "kestrel.agent.name" -}}{{ include "kestrel.fullname" . }}-agent{{- end -}}
{{- define "kestrel.aggregator.name" -}}{{ include "kestrel.fullname" . }}-aggregator{{- end -}}

{{/* The headless Service agents resolve, and its DNS name (the aggregator certificate is issued for it). */}}
{{- define "kestrel.aggregator.serviceName" -}}{{ include "kestrel.aggregator.name" . }}{{- end -}}
{{- define "kestrel.aggregator.serviceFqdn" -}}
{{- printf "%s.%s.svc.%s" (include "kestrel.aggregator.serviceName" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{- define "kestrel.cloud.secretName" -}}
{{- .Values.cloud.existingSecret | default (printf "%s-cloud" (include "kestrel.fullname" .)) -}}
{{- end -}}
{{- define "kestrel.cloud.runtimeSecretName" -}}
{{- .Values.cloud.runtimeSecret.name | default (printf "%s-cloud-runtime" (include "kestrel.fullname" .)) -}}
{{- end -}}

{{- define "kestrel.internalTls.caSecretName" -}}{{ include "kestrel.fullname" . }}-internal-ca{{- end -}}
{{- define "kestrel.internalTls.aggregatorSecretName" -}}
{{- if .Values.internalTls.generate -}}{{ include "kestrel.aggregator.name" . }}-tls{{- else -}}{{ .Values.internalTls.existingAggregatorSecret }}{{- end -}}
{{- end -}}
{{/* The CA certificate agents verify the aggregators with (no key: a ConfigMap). */}}
{{- define "kestrel.internalTls.caConfigMapName" -}}
{{- if .Values.internalTls.generate -}}{{ include "kestrel.fullname" . }}-internal-ca-cert{{- else -}}{{ .Values.internalTls.existingCaConfigMap }}{{- end -}}
{{- end -}}

{{/*
The audience of the agents' projected ServiceAccount tokens: the aggregator reviews them for it
(KESTREL_AGGREGATOR_AGENT_TOKEN_AUDIENCE), so a token for the API server or another audience is refused.
*/}}
{{- define "kestrel.agentTokenAudience" -}}kestrel-aggregator{{- end -}}

{{- define "kestrel.image" -}}
{{- $root := index . 0 -}}{{- $repository := index . 1 -}}
{{- printf "%s/%s:%s" $root.Values.image.registry $repository ($root.Values.image.tag | default $root.Chart.AppVersion) -}}
{{- end -}}

{{/* Labels on every object; "kestrel.selectorLabels" takes (list $ "component"). */}}
{{- define "kestrel.labels" -}}
{{- $root := index . 0 -}}{{- $component := index . 1 -}}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: kestrel-operator
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
{{ include "kestrel.selectorLabels" . }}
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "kestrel.selectorLabels" -}}
{{- $root := index . 0 -}}{{- $component := index . 1 -}}
app.kubernetes.io/name: kestrel-operator
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ $component }}
{{- end -}}

{{- define "kestrel.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Port of host:port. */}}
{{- define "kestrel.port" -}}{{ splitList ":" . | last }}{{- end -}}

{{/* Cloud credentials: either an existing Secret or all inline values, never a mix, never nothing. */}}
{{- define "kestrel.cloud.validate" -}}
{{- $c := .Values.cloud -}}
{{- $inline := or $c.token $c.tls.crt $c.tls.key $c.tls.ca -}}
{{- if and $c.existingSecret $inline -}}
{{- fail "cloud: set either cloud.existingSecret or the inline cloud.token and cloud.tls.*, not both" -}}
{{- end -}}
{{- if and (not $c.existingSecret) (not (and $c.token $c.tls.crt $c.tls.key $c.tls.ca)) -}}
{{- fail "cloud: credentials missing: set cloud.existingSecret (a Secret with keys tls.crt, tls.key, ca.crt, token) or all of cloud.token, cloud.tls.crt, cloud.tls.key and cloud.tls.ca" -}}
{{- end -}}
{{- end -}}

{{- define "kestrel.internalTls.validate" -}}
{{- if not .Values.internalTls.generate -}}
{{- if not (and .Values.internalTls.existingAggregatorSecret .Values.internalTls.existingCaConfigMap) -}}
{{- fail "internalTls: with internalTls.generate=false, set internalTls.existingAggregatorSecret (a Secret with keys tls.crt, tls.key, ca.crt) and internalTls.existingCaConfigMap (a ConfigMap with key ca.crt)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
