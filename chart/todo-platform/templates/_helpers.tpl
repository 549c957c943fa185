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

{{/* The image reference: the tag is required (validateValues), never the appVersion nobody pushed. */}}
{{- define "todo-platform.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag }}
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

{{/*
One variable from a Secret: call with (dict "name" "DATABASE_URL" "secret" $secretName "optional" false),
and "key" when the Secret holds it under another name.
*/}}
{{- define "todo-platform.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ default .name .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/* Whether a role talks to Kafka itself: the worker always, web and relay only without a sidecar. */}}
{{- define "todo-platform.roleUsesKafka" -}}
{{- if or (eq .role "worker") (not .ctx.Values.dapr.enabled) }}true{{ end }}
{{- end }}

{{/*
The secrets a role uses, and no others: call with (dict "ctx" $ "role" "web|worker|relay|migrations").
DATABASE_URL: all, the owner's for web, relay and migrations, the worker role's (the Secret's
WORKER_DATABASE_URL) for the worker, which may then only SELECT and INSERT audit_log. SECRET_KEY and
JWT_SECRET_KEY: the roles that build the Flask app (web, relay, migrations), which refuses to start
without them in production. SMTP: the worker, which sends the mail. Kafka credentials: whoever
talks to Kafka (the sidecar reads its own from the Component).
*/}}
{{- define "todo-platform.env" -}}
{{- $secret := include "todo-platform.secretName" .ctx }}
{{- if ne .role "worker" }}
{{- include "todo-platform.secretEnv" (dict "name" "SECRET_KEY" "secret" $secret) }}
{{ include "todo-platform.secretEnv" (dict "name" "JWT_SECRET_KEY" "secret" $secret) }}
{{ end }}
{{- $databaseKey := ternary "WORKER_DATABASE_URL" "DATABASE_URL" (eq .role "worker") }}
{{- include "todo-platform.secretEnv" (dict "name" "DATABASE_URL" "key" $databaseKey "secret" $secret) }}
{{- if eq .role "worker" }}
{{ include "todo-platform.secretEnv" (dict "name" "SMTP_USERNAME" "secret" $secret "optional" true) }}
{{ include "todo-platform.secretEnv" (dict "name" "SMTP_PASSWORD" "secret" $secret "optional" true) }}
{{- end }}
{{- if include "todo-platform.roleUsesKafka" . }}
{{- $v := .ctx.Values }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ ternary "PLAINTEXT" $v.kafka.securityProtocol $v.inCluster.enabled | quote }}
{{- if and $v.kafka.saslMechanism (not $v.inCluster.enabled) }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $v.kafka.saslMechanism | quote }}
{{- end }}
{{- with include "todo-platform.kafkaCaFile" .ctx }}
- name: KAFKA_SSL_CAFILE
  value: {{ . | quote }}
{{- end }}
{{- with include "todo-platform.kafkaBootstrap" .ctx }}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ . | quote }}
{{- end }}
{{- if and $v.kafka.existingSecret (not $v.inCluster.enabled) }}
{{- range list "KAFKA_BOOTSTRAP_SERVERS" "KAFKA_SASL_USERNAME" "KAFKA_SASL_PASSWORD" }}
{{ include "todo-platform.secretEnv" (dict "name" . "secret" $.ctx.Values.kafka.existingSecret) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The owner's DATABASE_URL of a chart-managed Secret: secrets.databaseUrl, else the in-cluster PostgreSQL's. */}}
{{- define "todo-platform.databaseUrl" -}}
{{- $pg := .Values.inCluster.postgresql }}
{{- if .Values.secrets.databaseUrl }}
{{- .Values.secrets.databaseUrl }}
{{- else if .Values.inCluster.enabled }}
{{- printf "postgresql://%s:%s@%s-postgresql:5432/%s" $pg.user (urlquery $pg.password) (include "todo-platform.fullname" .) $pg.database }}
{{- end }}
{{- end }}

{{/* The worker role's WORKER_DATABASE_URL of a chart-managed Secret, built like the owner's. */}}
{{- define "todo-platform.workerDatabaseUrl" -}}
{{- $pg := .Values.inCluster.postgresql }}
{{- if .Values.secrets.workerDatabaseUrl }}
{{- .Values.secrets.workerDatabaseUrl }}
{{- else if .Values.inCluster.enabled }}
{{- printf "postgresql://%s:%s@%s-postgresql:5432/%s" $pg.workerUser (urlquery $pg.workerPassword) (include "todo-platform.fullname" .) $pg.database }}
{{- end }}
{{- end }}

{{/* Pool sizes of one role: call with (dict "pool" .Values.web.database). */}}
{{- define "todo-platform.poolEnv" -}}
- name: DATABASE_POOL_SIZE
  value: {{ .pool.poolSize | quote }}
- name: DATABASE_MAX_OVERFLOW
  value: {{ .pool.maxOverflow | quote }}
{{- end }}

{{/*
Pod annotations of a Dapr-enabled role (web, separate relay): call with (dict "ctx" $ "appId" "todo-web").
No app port: both only publish, so the sidecar never calls into the app. The built-in Kubernetes
secret store is off because the pods mount no service account token (daprd would exit without one);
the Components' secretKeyRefs still resolve through the operator.
*/}}
{{- define "todo-platform.daprAnnotations" -}}
{{- $d := .ctx.Values.dapr }}
checksum/dapr: {{ include "todo-platform.daprChecksum" .ctx }}
dapr.io/enabled: "true"
dapr.io/app-id: {{ .appId | quote }}
dapr.io/config: {{ printf "%s-dapr" (include "todo-platform.fullname" .ctx) | quote }}
dapr.io/disable-builtin-k8s-secret-store: "true"
dapr.io/block-shutdown-duration: {{ $d.blockShutdownDuration | quote }}
dapr.io/log-level: {{ $d.logLevel | quote }}
dapr.io/log-as-json: {{ $d.logAsJson | toString | quote }}
dapr.io/sidecar-cpu-request: {{ $d.sidecar.cpuRequest | quote }}
dapr.io/sidecar-memory-request: {{ $d.sidecar.memoryRequest | quote }}
dapr.io/sidecar-cpu-limit: {{ $d.sidecar.cpuLimit | quote }}
dapr.io/sidecar-memory-limit: {{ $d.sidecar.memoryLimit | quote }}
dapr.io/sidecar-seccomp-profile-type: "RuntimeDefault"
{{- end }}

{{/* Hash of the Dapr resources a sidecar loads at start: a change rolls the pods that use them. */}}
{{- define "todo-platform.daprChecksum" -}}
{{- $files := list "configuration.yaml" "pubsub.yaml" "resiliency.yaml" }}
{{- $rendered := "" }}
{{- range $files }}
{{- $rendered = print $rendered (include (print $.Template.BasePath "/dapr/" .) $) }}
{{- end }}
{{- $rendered | sha256sum }}
{{- end }}

{{/*
Worst-case PostgreSQL connections of the release (values.yaml, `database`, shows the arithmetic):
web pods at the HPA maximum plus one surge pod, each process its pool, overflow and relay connection;
each worker its pool and overflow; each separate relay one; the migrations Job one.
*/}}
{{- define "todo-platform.connectionBudget" -}}
{{- $web := .Values.web }}
{{- $pods := ternary $web.autoscaling.maxReplicas $web.replicaCount $web.autoscaling.enabled }}
{{- $perProcess := add $web.database.poolSize $web.database.maxOverflow (ternary 0 1 .Values.relay.separate) }}
{{- $total := mul (add $pods 1) $web.processes $perProcess }}
{{- $total = add $total (mul .Values.worker.replicaCount (add .Values.worker.database.poolSize .Values.worker.database.maxOverflow)) }}
{{- if .Values.relay.separate }}
{{- $total = add $total .Values.relay.replicaCount }}
{{- end }}
{{- add $total 1 }}
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
{{- if not .Values.image.tag }}
{{- $errors = append $errors (printf "image.tag is empty: set it to a tag you pushed to %s (the deploy workflow uses the commit SHA)." .Values.image.repository) }}
{{- end }}
{{- $budget := int (include "todo-platform.connectionBudget" .) }}
{{- if gt $budget (int .Values.database.maxConnections) }}
{{- $errors = append $errors (printf "these values may open %d PostgreSQL connections but database.maxConnections is %d: lower web.autoscaling.maxReplicas, web.processes or the pool sizes (web.database, worker.database), or move to a larger database plan and raise database.maxConnections (DEPLOY.md, connection budget)." $budget (int .Values.database.maxConnections)) }}
{{- end }}
{{- if and .Values.certManager.clusterIssuer.create (not .Values.certManager.clusterIssuer.email) }}
{{- $errors = append $errors "certManager.clusterIssuer.create needs certManager.clusterIssuer.email (the ACME account Let's Encrypt writes to)." }}
{{- end }}
{{- if and .Values.certManager.clusterIssuer.create (not .Values.web.ingress.className) }}
{{- $errors = append $errors "certManager.clusterIssuer.create needs web.ingress.className: the HTTP-01 challenge is answered through that Ingress class." }}
{{- end }}
{{- if .Values.dapr.enabled }}
{{- $block := include "todo-platform.seconds" .Values.dapr.blockShutdownDuration | int }}
{{- range $role, $grace := dict "web" .Values.web.terminationGracePeriodSeconds "relay" .Values.relay.terminationGracePeriodSeconds }}
{{- if le (int $grace) (add $block 5) }}
{{- $errors = append $errors (printf "%s.terminationGracePeriodSeconds (%d) must exceed dapr.blockShutdownDuration (%s) plus Dapr's 5 s graceful shutdown, or Kubernetes kills the sidecar mid-publish." $role (int $grace) $.Values.dapr.blockShutdownDuration) }}
{{- end }}
{{- end }}
{{- end }}
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
{{- if and (not .Values.secrets.workerDatabaseUrl) (not .Values.inCluster.enabled) }}
{{- $errors = append $errors "secrets.existingSecret is empty, so set secrets.workerDatabaseUrl (postgresql://todo_worker:...@.../todo?sslmode=require, the worker's own role, which the migrations Job creates), or name an existing Secret in secrets.existingSecret." }}
{{- end }}
{{- if and .Values.inCluster.enabled (not .Values.secrets.workerDatabaseUrl) (not .Values.inCluster.postgresql.workerPassword) }}
{{- $errors = append $errors "inCluster.enabled with a chart-managed Secret needs inCluster.postgresql.workerPassword (the worker role's, which the migrations Job creates)." }}
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

{{/* Whole seconds of a Go duration made of s/m/h units ("20s", "1m30s"). */}}
{{- define "todo-platform.seconds" -}}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+[hms]" . -1 }}
{{- $n := int (trimSuffix "h" (trimSuffix "m" (trimSuffix "s" .))) }}
{{- $unit := ternary 3600 (ternary 60 1 (hasSuffix "m" .)) (hasSuffix "h" .) }}
{{- $total = add $total (mul $n $unit) }}
{{- end }}
{{- $total }}
{{- end }}

{{/* One egress rule to external CIDRs on some ports: call with (dict "to" .Values.networkPolicy.database). */}}
{{- define "todo-platform.cidrEgress" -}}
- to:
    {{- range .to.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range .to.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}

{{/*
Egress of one role: call with (dict "ctx" $ "role" "web|worker|relay"). DNS; the Dapr control plane
for the pods with a sidecar; PostgreSQL and Kafka only at their CIDRs; SMTP only from the worker;
the in-cluster data pods in trial mode. Nothing else leaves the pod.
*/}}
{{- define "todo-platform.egressRules" -}}
{{- $np := .ctx.Values.networkPolicy }}
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
{{- if and .ctx.Values.dapr.enabled (ne .role "worker") }}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ $np.daprNamespace }}
{{- end }}
{{- if .ctx.Values.inCluster.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "todo-platform.selectorLabels" .ctx | nindent 10 }}
          app.kubernetes.io/component: postgresql
    - podSelector:
        matchLabels:
          {{- include "todo-platform.selectorLabels" .ctx | nindent 10 }}
          app.kubernetes.io/component: kafka
{{- else }}
{{ include "todo-platform.cidrEgress" (dict "to" $np.database) }}
{{ include "todo-platform.cidrEgress" (dict "to" $np.kafka) }}
{{- end }}
{{- if eq .role "worker" }}
{{ include "todo-platform.cidrEgress" (dict "to" $np.smtp) }}
{{- end }}
{{- end }}
