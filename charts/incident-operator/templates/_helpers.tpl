{{/* The chart name, or nameOverride. */}}
{{- define "incident-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The base name of every object: fullnameOverride, else the release name when it already
contains the chart name (the usual `helm install incident-operator ...`), else
<release>-<chart>. The default release gives the names manifests/install uses.
*/}}
{{- define "incident-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "incident-operator.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "incident-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{ include "incident-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* Labels the Deployment selects its pods by; never change them in an upgrade. */}}
{{- define "incident-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "incident-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The label the replica holding the Lease sets on its own Pod (LEADER_LABEL in
operator/incident_operator/api/annotations.py); the Alertmanager Service selects it.
*/}}
{{- define "incident-operator.leaderLabel" -}}
incident-operator.sre.agentos.io/leader: "true"
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "incident-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "incident-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The leader-election Lease's name (in the release namespace). */}}
{{- define "incident-operator.leaseName" -}}
{{- default (include "incident-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The Secret Alertmanager's bearer token is read from (in the release namespace). */}}
{{- define "incident-operator.alertmanagerSecretName" -}}
{{- default (printf "%s-alertmanager" (include "incident-operator.fullname" .)) .Values.alertmanager.tokenSecret }}
{{- end }}

{{/* The Secret PagerDuty's webhook signing secret is read from (in the release namespace). */}}
{{- define "incident-operator.pagerdutySecretName" -}}
{{- default (printf "%s-pagerduty" (include "incident-operator.fullname" .)) .Values.intake.pagerduty.secret }}
{{- end }}

{{/* The image reference. */}}
{{- define "incident-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
