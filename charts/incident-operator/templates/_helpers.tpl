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
app.kubernetes.io/part-of: {{ .Chart.Name }}
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

{{/*
An object read from files/ (a copy of a manifests/ file), as YAML with the release's
labels merged into its own (the release's win): every object of a release carries
them. Takes (dict "root" $ "object" OBJECT).
*/}}
{{- define "incident-operator.withReleaseLabels" -}}
{{- $object := .object }}
{{- $labels := merge (include "incident-operator.labels" .root | fromYaml) ($object.metadata.labels | default dict) }}
{{- $_ := set $object.metadata "labels" $labels }}
{{- toYaml $object }}
{{- end }}

{{/*
The documents of a multi-document YAML file from files/, parsed (empty ones left out),
as a YAML list under the key "objects": fromYaml can return a dict only.
*/}}
{{- define "incident-operator.fileObjects" -}}
{{- $objects := list }}
{{- $text := .root.Files.Get .path }}
{{- /* The files name the kustomize install's service account; this release's instead. */}}
{{- $operator := printf "system:serviceaccount:%s:%s" .root.Release.Namespace (include "incident-operator.serviceAccountName" .root) }}
{{- $text = replace "system:serviceaccount:incident-operator:incident-operator" $operator $text }}
{{- range regexSplit "(?m)^---\\s*$" $text -1 }}
{{- $object := fromYaml . }}
{{- if $object }}
{{- $objects = append $objects $object }}
{{- end }}
{{- end }}
{{- toYaml (dict "objects" $objects) }}
{{- end }}

