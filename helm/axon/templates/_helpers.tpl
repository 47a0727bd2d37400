{{/* Names, labels and the pieces every Axon pod shares. */}}

{{- define "axon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "axon.fullname" -}}
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

{{- define "axon.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "axon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "axon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "axon.labels" -}}
helm.sh/chart: {{ include "axon.chart" . }}
{{ include "axon.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: axon
{{- end }}

{{- define "axon.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "axon.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "axon.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "axon.secretName" -}}
{{- default (include "axon.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "axon.runnerNamespace" -}}
{{- default .Release.Namespace .Values.runner.namespace }}
{{- end }}

{{/* AXON_HOME: an emptyDir, since the image's filesystem is read-only. */}}
{{- define "axon.home" -}}
/var/lib/axon
{{- end }}

{{/* The URL reports link to: config.publicUrl, else the first ingress host, else the Service. */}}
{{- define "axon.publicUrl" -}}
{{- if .Values.config.publicUrl }}
{{- .Values.config.publicUrl | trimSuffix "/" }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- $host := (first .Values.ingress.hosts).host }}
{{- $scheme := "http" }}
{{- range .Values.ingress.tls }}
{{- if has $host (default list .hosts) }}
{{- $scheme = "https" }}
{{- end }}
{{- end }}
{{- printf "%s://%s" $scheme $host }}
{{- else }}
{{- printf "http://%s.%s.svc:%d" (include "axon.fullname" .) .Release.Namespace (int .Values.service.port) }}
{{- end }}
{{- end }}

{{/* Kept across upgrades: a new key would invalidate the tokens of runs in flight. */}}
{{- define "axon.secretKey" -}}
{{- if .Values.secrets.secretKey }}
{{- .Values.secrets.secretKey }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "axon.fullname" .) }}
{{- $kept := dig "data" "AXON_SECRET_KEY" "" ($existing | default dict) }}
{{- if $kept }}
{{- $kept | b64dec }}
{{- else }}
{{- randAlphaNum 64 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The API refuses to serve without a token, so one is always there: the given one, else the one
the release's Secret already holds (kept across upgrades, or every client would be locked out),
else a new one.
*/}}
{{- define "axon.apiToken" -}}
{{- if .Values.secrets.apiToken }}
{{- .Values.secrets.apiToken }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "axon.fullname" .) }}
{{- $kept := dig "data" "AXON_API_TOKEN" "" ($existing | default dict) }}
{{- if $kept }}
{{- $kept | b64dec }}
{{- else }}
{{- randAlphaNum 48 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Settings that are secret, from the chart's Secret or an existing one. Arguments (a dict): root
and component; only the API, which serves requests, gets the API token.
*/}}
{{- define "axon.secretEnv" -}}
{{- $secret := include "axon.secretName" .root }}
{{- $required := list "AXON_DATABASE_URL" "AXON_BROKER_URL" "AXON_SECRET_KEY" }}
{{- if eq .component "api" }}
{{- $required = append $required "AXON_API_TOKEN" }}
{{- end }}
{{- range $key := $required }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
{{- range $key := list "AXON_GITHUB_TOKEN" "AXON_SLACK_WEBHOOK_URL" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end }}

{{- define "axon.volumes" -}}
- name: tmp
  emptyDir: {}
- name: home
  emptyDir: {}
{{- end }}

{{- define "axon.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: home
  mountPath: {{ include "axon.home" . }}
{{- end }}

{{/*
A component's Deployment. Arguments (a dict): root, component (its name and values key),
command, args, and optionally container (YAML added to the container: ports, probes).
*/}}
{{- define "axon.deployment" -}}
{{- $root := .root }}
{{- $values := index $root.Values .component }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "axon.fullname" $root }}-{{ .component }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "axon.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  replicas: {{ $values.replicaCount }}
  selector:
    matchLabels:
      {{- include "axon.selectorLabels" $root | nindent 6 }}
      app.kubernetes.io/component: {{ .component }}
  template:
    metadata:
      labels:
        {{- include "axon.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
        {{- with merge (dict) $values.podLabels $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if not $root.Values.secrets.existingSecret }}
        checksum/secret: {{ toJson $root.Values.secrets | sha256sum }}
        {{- end }}
        {{- with merge (dict) $values.podAnnotations $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "axon.serviceAccountName" $root }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.podSecurityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.terminationGracePeriodSeconds }}
      terminationGracePeriodSeconds: {{ . }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "axon.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command:
            {{- toYaml .command | nindent 12 }}
          {{- with concat .args $values.extraArgs }}
          args:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "axon.fullname" $root }}
          env:
            {{- include "axon.secretEnv" (dict "root" $root "component" .component) | trim | nindent 12 }}
            {{- with concat $root.Values.extraEnv $values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with .container }}
          {{- . | trim | nindent 10 }}
          {{- end }}
          {{- with $values.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $root.Values.securityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
            {{- include "axon.volumeMounts" $root | nindent 12 }}
      volumes:
        {{- include "axon.volumes" $root | nindent 8 }}
      {{- with $values.nodeSelector | default $root.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations | default $root.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.affinity | default $root.Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
