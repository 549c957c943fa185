{{/* Chart name, overridable. */}}
{{- define "todo-platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: "<release>-<chart>", or the release name when it already contains the chart name. */}}
{{- define "todo-platform.fullname" -}}
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

{{/* Chart name and version for the helm.sh/chart label. */}}
{{- define "todo-platform.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "todo-platform.labels" -}}
helm.sh/chart: {{ include "todo-platform.chart" . }}
{{ include "todo-platform.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: todo-platform
{{- end }}

{{/* Selector labels. */}}
{{- define "todo-platform.selectorLabels" -}}
app.kubernetes.io/name: {{ include "todo-platform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component: call with (dict "ctx" $ "component" "web"). */}}
{{- define "todo-platform.componentLabels" -}}
{{ include "todo-platform.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "web"). */}}
{{- define "todo-platform.componentSelectorLabels" -}}
{{ include "todo-platform.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Name of the ServiceAccount to use. */}}
{{- define "todo-platform.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "todo-platform.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference. */}}
{{- define "todo-platform.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Name of the Secret with the app's secrets. */}}
{{- define "todo-platform.secretName" -}}
{{- default (include "todo-platform.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* Kafka bootstrap servers as a plain value (empty when they come from kafka.existingSecret). */}}
{{- define "todo-platform.kafkaBootstrap" -}}
{{- if .Values.inCluster.enabled }}
{{- printf "%s-kafka:9092" (include "todo-platform.fullname" .) }}
{{- else if not .Values.kafka.existingSecret }}
{{- .Values.kafka.bootstrapServers }}
{{- end }}
{{- end }}

{{/* Kafka CA file path inside the containers, when a CA is mounted. */}}
{{- define "todo-platform.kafkaCaFile" -}}
{{- if and .Values.kafka.existingSecret (not .Values.inCluster.enabled) }}
{{- printf "/etc/todo-platform/kafka/%s" .Values.kafka.caKey }}
{{- end }}
{{- end }}

{{/* Worker URL the web app asks for counts (the headless Service). */}}
{{- define "todo-platform.workerUrl" -}}
{{- printf "http://%s-worker:%d" (include "todo-platform.fullname" .) (int .Values.worker.webPort) }}
{{- end }}

{{/* Dapr app id of the separate relay's sidecar: not the web app's, so service invocation of the web app never lands on a relay pod. */}}
{{- define "todo-platform.relayAppId" -}}
{{- printf "%s-relay" .Values.dapr.appId }}
{{- end }}

{{/* Dapr app ids the components and the resiliency policy are scoped to. */}}
{{- define "todo-platform.daprScopes" -}}
- {{ .Values.dapr.appId }}
{{- if .Values.relay.separate }}
- {{ include "todo-platform.relayAppId" . }}
{{- end }}
{{- end }}

{{/* How the outbox relay publishes: through the Dapr sidecar or straight to Kafka. */}}
{{- define "todo-platform.publisherEnv" -}}
- name: EVENT_PUBLISHER
  value: {{ ternary "dapr" "kafka" .Values.dapr.enabled | quote }}
- name: DAPR_TIMEOUT_SECONDS
  value: {{ .Values.dapr.appTimeoutSeconds | quote }}
{{- end }}

{{/* Environment shared by every app container: ConfigMap plus secrets from the Secrets. */}}
{{- define "todo-platform.env" -}}
- name: SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "todo-platform.secretName" . }}
      key: SECRET_KEY
- name: JWT_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "todo-platform.secretName" . }}
      key: JWT_SECRET_KEY
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "todo-platform.secretName" . }}
      key: DATABASE_URL
- name: SMTP_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "todo-platform.secretName" . }}
      key: SMTP_USERNAME
      optional: true
- name: SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "todo-platform.secretName" . }}
      key: SMTP_PASSWORD
      optional: true
{{- if and .Values.kafka.existingSecret (not .Values.inCluster.enabled) }}
- name: KAFKA_BOOTSTRAP_SERVERS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.existingSecret }}
      key: KAFKA_BOOTSTRAP_SERVERS
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.existingSecret }}
      key: KAFKA_SASL_USERNAME
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.existingSecret }}
      key: KAFKA_SASL_PASSWORD
{{- end }}
{{- end }}

{{/* Volume with the Kafka CA certificate, when one is configured. */}}
{{- define "todo-platform.kafkaCaVolume" -}}
{{- if include "todo-platform.kafkaCaFile" . }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.existingSecret }}
    items:
      - key: {{ .Values.kafka.caKey }}
        path: {{ .Values.kafka.caKey }}
{{- end }}
{{- end }}

{{/* Mount of the Kafka CA certificate. */}}
{{- define "todo-platform.kafkaCaMount" -}}
{{- if include "todo-platform.kafkaCaFile" . }}
- name: kafka-ca
  mountPath: /etc/todo-platform/kafka
  readOnly: true
{{- end }}
{{- end }}

{{/* Fail with a message that says what to set when the values cannot work together. */}}
{{- define "todo-platform.validateValues" -}}
{{- $errors := list }}
{{- if gt (int .Values.worker.replicaCount) (int .Values.events.partitions) }}
{{- $errors = append $errors (printf "worker.replicaCount (%d) must not exceed events.partitions (%d): a Faust worker without a partition sits idle. Lower worker.replicaCount or add partitions to the topic first." (int .Values.worker.replicaCount) (int .Values.events.partitions)) }}
{{- end }}
{{- if not .Values.secrets.existingSecret }}
{{- if or (lt (len .Values.secrets.secretKey) 32) (lt (len .Values.secrets.jwtSecretKey) 32) }}
{{- $errors = append $errors "secrets.existingSecret is empty, so set secrets.secretKey and secrets.jwtSecretKey (32+ random characters each), or name an existing Secret in secrets.existingSecret." }}
{{- end }}
{{- if and (not .Values.secrets.databaseUrl) (not .Values.inCluster.enabled) }}
{{- $errors = append $errors "secrets.existingSecret is empty, so set secrets.databaseUrl (postgresql://...?sslmode=require), or name an existing Secret in secrets.existingSecret." }}
{{- end }}
{{- if and .Values.inCluster.enabled (not .Values.inCluster.postgresql.password) }}
{{- $errors = append $errors "inCluster.enabled with a chart-managed Secret needs inCluster.postgresql.password." }}
{{- end }}
{{- end }}
{{- if and (not .Values.inCluster.enabled) (not .Values.kafka.existingSecret) (not .Values.kafka.bootstrapServers) }}
{{- $errors = append $errors "Kafka is not configured: set kafka.existingSecret (managed Kafka), kafka.bootstrapServers, or inCluster.enabled=true." }}
{{- end }}
{{- if and (hasPrefix "SASL" .Values.kafka.securityProtocol) (not .Values.inCluster.enabled) }}
{{- if not .Values.kafka.saslMechanism }}
{{- $errors = append $errors (printf "kafka.securityProtocol=%s needs kafka.saslMechanism (SCRAM-SHA-256 on DigitalOcean)." .Values.kafka.securityProtocol) }}
{{- end }}
{{- if not .Values.kafka.existingSecret }}
{{- $errors = append $errors (printf "kafka.securityProtocol=%s needs kafka.existingSecret with KAFKA_BOOTSTRAP_SERVERS, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and %s." .Values.kafka.securityProtocol .Values.kafka.caKey) }}
{{- end }}
{{- end }}
{{- if and .Values.web.ingress.enabled .Values.web.ingress.tls.enabled (not .Values.web.ingress.tls.secretName) }}
{{- $errors = append $errors "web.ingress.tls.enabled needs web.ingress.tls.secretName (the Secret that holds, or will hold, the certificate)." }}
{{- end }}
{{- if and .Values.web.autoscaling.enabled (gt (int .Values.web.autoscaling.minReplicas) (int .Values.web.autoscaling.maxReplicas)) }}
{{- $errors = append $errors "web.autoscaling.minReplicas must not exceed web.autoscaling.maxReplicas." }}
{{- end }}
{{- $group := .Values.worker.broker }}
{{- if gt (mulf $group.heartbeatInterval 3) (float64 $group.sessionTimeout) }}
{{- $errors = append $errors (printf "worker.broker.heartbeatInterval (%v) must be at most a third of worker.broker.sessionTimeout (%v), or a worker misses the session between heartbeats and the group keeps rebalancing." $group.heartbeatInterval $group.sessionTimeout) }}
{{- end }}
{{- if lt (int .Values.dapr.maxMessageBytes) (int .Values.events.maxEventBytes) }}
{{- $errors = append $errors "dapr.maxMessageBytes must be at least events.maxEventBytes, or Dapr rejects the largest events." }}
{{- end }}
{{- if $errors }}
{{- fail (printf "\n\nVALUES VALIDATION:\n- %s" (join "\n- " $errors)) }}
{{- end }}
{{- end }}

{{/* Egress every app pod needs: DNS, the Dapr control plane, the data services' ports, in-cluster data pods. */}}
{{- define "todo-platform.egressRules" -}}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.networkPolicy.daprNamespace }}
- ports:
    {{- range .Values.networkPolicy.egressPorts }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- if .Values.inCluster.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "todo-platform.selectorLabels" . | nindent 10 }}
          app.kubernetes.io/component: postgresql
    - podSelector:
        matchLabels:
          {{- include "todo-platform.selectorLabels" . | nindent 10 }}
          app.kubernetes.io/component: kafka
{{- end }}
{{- end }}
