{{/*
Names, labels and the pieces the Deployment and the sync Job share. Everything that has to agree between
objects (the port in the args and the probes, the Lease name in the args and the Role, the identity in the env
and the ServiceAccount) is defined once here.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "azure-route-controller.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the objects: fullnameOverride, or <release>-<name> (just the release name when it already
contains the chart name). 63 characters at most, the DNS label limit.
*/}}
{{- define "azure-route-controller.fullname" -}}
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

{{/* The namespace of every namespaced object: namespaceOverride, else the release namespace. */}}
{{- define "azure-route-controller.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{/*
A Go-style duration as the CLI takes it (500ms, 15s, 1m, 1.5h: one number, one unit) in milliseconds. The schema
has already checked the form.
*/}}
{{- define "azure-route-controller.durationMs" -}}
{{- $d := toString . }}
{{- $unit := regexFind "(ms|s|m|h)$" $d }}
{{- $n := regexReplaceAll "(ms|s|m|h)$" $d "" | float64 }}
{{- mulf $n (get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000) $unit) | int64 }}
{{- end }}

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "azure-route-controller.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The recommended labels, on every object. */}}
{{- define "azure-route-controller.labels" -}}
helm.sh/chart: {{ include "azure-route-controller.chart" . }}
{{ include "azure-route-controller.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: azure-route-controller
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The labels that select this release's objects. Each workload adds app.kubernetes.io/component. */}}
{{- define "azure-route-controller.selectorLabels" -}}
app.kubernetes.io/name: {{ include "azure-route-controller.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The controller pods: the Deployment's selector, the Service's, the PDB's and the spread constraints'. */}}
{{- define "azure-route-controller.controllerSelectorLabels" -}}
{{ include "azure-route-controller.selectorLabels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{/* The ServiceAccount's name. */}}
{{- define "azure-route-controller.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "azure-route-controller.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Lease's name: leaderElection.leaseName, else the full name. */}}
{{- define "azure-route-controller.leaseName" -}}
{{- default (include "azure-route-controller.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The image: repository:tag (tag defaults to appVersion), or repository@digest. */}}
{{- define "azure-route-controller.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The port of /healthz, /readyz and /metrics: a host port with hostNetwork, else metrics.port. */}}
{{- define "azure-route-controller.port" -}}
{{- if .Values.hostNetwork.enabled }}{{ .Values.hostNetwork.port }}{{ else }}{{ .Values.metrics.port }}{{ end }}
{{- end }}

{{/*
--bind-address: HOST:PORT, with an IPv6 host in brackets. Without metrics.bindHost: every interface on the pod
network, but only the pod IP on the host network, so /metrics is not served on every address the node has
(docker bridges, a public IP). $(POD_IP) is expanded by the kubelet from the env var of that name.
*/}}
{{- define "azure-route-controller.bindAddress" -}}
{{- $host := .Values.metrics.bindHost }}
{{- if not $host }}
{{- if .Values.hostNetwork.enabled }}
{{- /* A host-network pod's IP is the node's primary InternalIP, whose family follows the first cluster CIDR. */}}
{{- $v6 := contains ":" (toString (first .Values.clusterCIDRs | default "")) }}
{{- $host = ternary "[$(POD_IP)]" "$(POD_IP)" $v6 }}
{{- else }}
{{- $host = "0.0.0.0" }}
{{- end }}
{{- end }}
{{- if and (contains ":" $host) (not (hasPrefix "[" $host)) }}
{{- $host = printf "[%s]" $host }}
{{- end }}
{{- printf "%s:%s" $host (include "azure-route-controller.port" .) }}
{{- end }}

{{/* "true" when the identity (and the table defaults) come from an azure.json: a Secret's or the node's file. */}}
{{- define "azure-route-controller.fromAzureJson" -}}
{{- if or (eq .Values.azure.identity.type "azureJsonSecret") (eq .Values.azure.identity.type "azureJsonHostPath") }}true{{- end }}
{{- end }}

{{/* Where an azure.json from azure.identity.azureJson is mounted. */}}
{{- define "azure-route-controller.azureJsonDir" -}}/etc/azure-route-controller{{- end }}

{{/* Where the chart projects the workload identity token (the webhook's path, so both look the same). */}}
{{- define "azure-route-controller.azureTokenDir" -}}/var/run/secrets/azure/tokens{{- end }}

{{/*
Whether Events are written: the controller writes them only with node conditions; sync-routes always, except
with --dry-run.
*/}}
{{- define "azure-route-controller.needsEvents" -}}
{{- if or .Values.controller.nodeConditions (and .Values.syncJob.enabled (not .Values.syncJob.dryRun)) }}true{{ end }}
{{- end }}

{{/*
Checks the values a schema cannot check on its own. Every workload template includes it, so a bad combination
fails the render with one clear message.
*/}}
{{- define "azure-route-controller.validate" -}}
{{- $id := .Values.azure.identity }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: without a Lease every replica would write the route tables; set replicaCount=1 to run without leader election" }}
{{- end }}
{{- if eq $id.type "workloadIdentity" }}
{{- if not $id.clientId }}
{{- fail "azure.identity.type=workloadIdentity needs azure.identity.clientId: the client ID of the managed identity or app registration federated with this ServiceAccount" }}
{{- end }}
{{- if and (not $id.workloadIdentity.webhook) (not $id.tenantId) }}
{{- fail "azure.identity.workloadIdentity.webhook=false needs azure.identity.tenantId: without the webhook the chart sets AZURE_TENANT_ID itself" }}
{{- end }}
{{- else if eq $id.type "servicePrincipal" }}
{{- if or (not $id.clientId) (not $id.tenantId) (not $id.servicePrincipal.existingSecret) }}
{{- fail "azure.identity.type=servicePrincipal needs azure.identity.clientId, azure.identity.tenantId and azure.identity.servicePrincipal.existingSecret (an existing Secret holding the client secret under azure.identity.servicePrincipal.clientSecretKey)" }}
{{- end }}
{{- else if eq $id.type "azureJsonSecret" }}
{{- if not $id.azureJson.existingSecret }}
{{- fail "azure.identity.type=azureJsonSecret needs azure.identity.azureJson.existingSecret: an existing Secret holding the azure.json under azure.identity.azureJson.key" }}
{{- end }}
{{- end }}
{{- if and .Values.syncJob.enabled .Values.syncJob.createRouteTable (not .Values.azure.location) (not (include "azure-route-controller.fromAzureJson" .)) }}
{{- fail "syncJob.createRouteTable needs azure.location: the region of the new route table" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: the ServiceMonitor scrapes the metrics Service" }}
{{- end }}
{{- include "azure-route-controller.validateRouteTables" . }}
{{- $grace := include "azure-route-controller.durationMs" .Values.controller.shutdownGracePeriod | int64 }}
{{- if ge $grace (mul (int64 .Values.terminationGracePeriodSeconds) 1000) }}
{{- fail (printf "controller.shutdownGracePeriod (%s) must be shorter than terminationGracePeriodSeconds (%d s): the kubelet kills the pod at the end of the termination grace period, so a write in flight and the Lease release would be cut off; lower controller.shutdownGracePeriod or raise terminationGracePeriodSeconds" .Values.controller.shutdownGracePeriod (int .Values.terminationGracePeriodSeconds)) }}
{{- end }}
{{- if and .Values.networkPolicy.enabled .Values.hostNetwork.enabled }}
{{- fail "networkPolicy.enabled has no effect with hostNetwork.enabled: NetworkPolicies do not apply to pods on the host network; turn one of them off (with hostNetwork, the metrics port binds to the pod IP, which is the node's)" }}
{{- end }}
{{- end }}

{{/*
The route tables, checked as the CLI checks them (src/config), so a value the controller would refuse at
start-up (a crash loop) fails the render instead: NAME or RG/NAME, or a full resource ID; a NAME needs
azure.resourceGroup, and anything but full IDs needs azure.subscriptionId. With an azure.json Secret, its
routeTableName, resourceGroup and subscriptionId may supply them, so only the form is checked.
*/}}
{{- define "azure-route-controller.validateRouteTables" -}}
{{- $az := .Values.azure }}
{{- $fromAzureJson := include "azure-route-controller.fromAzureJson" . }}
{{- if and (not $az.routeTables) (not $fromAzureJson) }}
{{- fail "azure.routeTables is empty: list the route table(s) to manage, e.g. --set 'azure.routeTables={kubernetes-routes}' (NAME, RG/NAME or a full resource ID); only with azure.identity.type=azureJsonSecret or azureJsonHostPath may the azure.json's routeTableName supply it" }}
{{- end }}
{{- $name := "[A-Za-z0-9]([-A-Za-z0-9_.]{0,78}[A-Za-z0-9_])?" }}
{{- $rg := "[-A-Za-z0-9_.()]{0,89}[-A-Za-z0-9_()]" }}
{{- $short := printf "^(%s/)?%s$" $rg $name }}
{{- $id := printf "(?i)^/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/resourceGroups/%s/providers/Microsoft\\.Network/routeTables/%s/?$" $rg $name }}
{{- range $az.routeTables }}
{{- $ref := toString . }}
{{- $isId := regexMatch $id $ref }}
{{- if not (or $isId (regexMatch $short $ref)) }}
{{- fail (printf "azure.routeTables: %q is not a route table reference; use NAME, RG/NAME or /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Network/routeTables/NAME (a name is 1-80 letters, digits, '_', '-' or '.', starting with a letter or digit)" $ref) }}
{{- end }}
{{- if not $fromAzureJson }}
{{- if and (not $isId) (not (contains "/" $ref)) (not $az.resourceGroup) }}
{{- fail (printf "azure.routeTables: %q has no resource group; set azure.resourceGroup or write it as RG/%s" $ref $ref) }}
{{- end }}
{{- if and (not $isId) (not $az.subscriptionId) }}
{{- fail (printf "azure.routeTables: %q needs azure.subscriptionId (or give the table's full resource ID)" $ref) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The flags `run` and `sync-routes` share, from values. Only flags that the CLI's commander command declares:
test/chart checks every rendered argument against buildProgram().
*/}}
{{- define "azure-route-controller.commonArgs" -}}
{{- $az := .Values.azure }}
{{- $c := .Values.controller }}
{{- if include "azure-route-controller.fromAzureJson" . }}
- {{ printf "--cloud-config=%s/azure.json" (include "azure-route-controller.azureJsonDir" .) | quote }}
{{- end }}
{{- with $az.cloud }}
- {{ printf "--cloud=%s" . | quote }}
{{- end }}
{{- with $az.subscriptionId }}
- {{ printf "--subscription-id=%s" . | quote }}
{{- end }}
{{- with $az.resourceGroup }}
- {{ printf "--resource-group=%s" . | quote }}
{{- end }}
{{- range $az.routeTables }}
- {{ printf "--route-table=%s" . | quote }}
{{- end }}
{{- if not .Values.clusterCIDRs }}
{{- fail "clusterCIDRs is required: set it to the cluster's pod range(s), e.g. --set 'clusterCIDRs={10.244.0.0/16}' (kube-controller-manager --cluster-cidr, kubeadm networking.podSubnet)" }}
{{- end }}
- {{ printf "--cluster-cidr=%s" (join "," .Values.clusterCIDRs) | quote }}
{{- with $az.location }}
- {{ printf "--location=%s" . | quote }}
{{- end }}
{{- with $az.armEndpoint }}
- {{ printf "--arm-endpoint=%s" . | quote }}
{{- end }}
- {{ printf "--log-level=%s" $c.logLevel | quote }}
- {{ printf "--log-format=%s" $c.logFormat | quote }}
{{- if not $c.nodeConditions }}
- "--no-node-conditions"
{{- end }}
- {{ printf "--route-limit=%d" (int $c.routeLimit) | quote }}
- {{ printf "--node-cidr-mask-size-ipv4=%d" (int $c.nodeCIDRMaskSizeIPv4) | quote }}
- {{ printf "--node-cidr-mask-size-ipv6=%d" (int $c.nodeCIDRMaskSizeIPv6) | quote }}
{{- if $c.allowEmptyNodeList }}
- "--allow-empty-node-list"
{{- end }}
- {{ printf "--max-write-attempts=%d" (int $c.maxWriteAttempts) | quote }}
- {{ printf "--operation-timeout=%s" $c.operationTimeout | quote }}
- {{ printf "--poll-interval=%s" $c.pollInterval | quote }}
{{- end }}

{{/*
The Azure identity as environment variables. Only names and IDs appear as values; a secret only ever as a
secretKeyRef. AZURE_TOKEN_CREDENTIALS pins DefaultAzureCredential to the one credential the mode uses, so a
misconfiguration fails with that credential's error instead of falling through the chain.
*/}}
{{- define "azure-route-controller.azureEnv" -}}
{{- $id := .Values.azure.identity }}
{{- if eq $id.type "managedIdentity" }}
- name: AZURE_TOKEN_CREDENTIALS
  value: ManagedIdentityCredential
{{- with $id.clientId }}
- name: AZURE_CLIENT_ID
  value: {{ . | quote }}
{{- end }}
{{- else if eq $id.type "workloadIdentity" }}
- name: AZURE_TOKEN_CREDENTIALS
  value: WorkloadIdentityCredential
{{- if not $id.workloadIdentity.webhook }}
- name: AZURE_CLIENT_ID
  value: {{ $id.clientId | quote }}
- name: AZURE_TENANT_ID
  value: {{ $id.tenantId | quote }}
- name: AZURE_FEDERATED_TOKEN_FILE
  value: {{ printf "%s/azure-identity-token" (include "azure-route-controller.azureTokenDir" .) | quote }}
{{- end }}
{{- else if eq $id.type "servicePrincipal" }}
- name: AZURE_TOKEN_CREDENTIALS
  value: EnvironmentCredential
- name: AZURE_CLIENT_ID
  value: {{ $id.clientId | quote }}
- name: AZURE_TENANT_ID
  value: {{ $id.tenantId | quote }}
- name: AZURE_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $id.servicePrincipal.existingSecret | quote }}
      key: {{ $id.servicePrincipal.clientSecretKey | quote }}
{{- end }}
{{- end }}

{{/* Volumes both workloads mount: a writable /tmp (the root file system is read-only) and the identity's. */}}
{{- define "azure-route-controller.volumes" -}}
{{- $id := .Values.azure.identity }}
- name: tmp
  emptyDir:
    sizeLimit: 16Mi
{{- if eq $id.type "azureJsonSecret" }}
- name: azure-json
  secret:
    secretName: {{ $id.azureJson.existingSecret | quote }}
    defaultMode: 0440
    items:
      - key: {{ $id.azureJson.key | quote }}
        path: azure.json
{{- else if eq $id.type "azureJsonHostPath" }}
- name: azure-json
  hostPath:
    path: {{ $id.azureJson.hostPath | quote }}
    type: File
{{- end }}
{{- if and (eq $id.type "workloadIdentity") (not $id.workloadIdentity.webhook) }}
- name: azure-identity-token
  projected:
    defaultMode: 0440
    sources:
      - serviceAccountToken:
          audience: api://AzureADTokenExchange
          expirationSeconds: {{ int $id.workloadIdentity.tokenExpirationSeconds }}
          path: azure-identity-token
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "azure-route-controller.volumeMounts" -}}
{{- $id := .Values.azure.identity }}
- name: tmp
  mountPath: /tmp
{{- if eq $id.type "azureJsonSecret" }}
- name: azure-json
  mountPath: {{ include "azure-route-controller.azureJsonDir" . }}
  readOnly: true
{{- else if eq $id.type "azureJsonHostPath" }}
- name: azure-json
  mountPath: {{ printf "%s/azure.json" (include "azure-route-controller.azureJsonDir" .) }}
  readOnly: true
{{- end }}
{{- if and (eq $id.type "workloadIdentity") (not $id.workloadIdentity.webhook) }}
- name: azure-identity-token
  mountPath: {{ include "azure-route-controller.azureTokenDir" . }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod labels of either workload: the webhook's opt-in label for workload identity, then podLabels. */}}
{{- define "azure-route-controller.identityPodLabels" -}}
{{- if and (eq .Values.azure.identity.type "workloadIdentity") .Values.azure.identity.workloadIdentity.webhook }}
azure.workload.identity/use: "true"
{{- end }}
{{- end }}

{{/*
The pod spec fields both workloads share: identity, scheduling, security. The API token is mounted on the pod
(the controller lists and watches Nodes), while the ServiceAccount itself opts out of automounting.
*/}}
{{- define "azure-route-controller.podSpecCommon" -}}
serviceAccountName: {{ include "azure-route-controller.serviceAccountName" . }}
automountServiceAccountToken: true
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- if .Values.hostNetwork.enabled }}
hostNetwork: true
dnsPolicy: {{ .Values.hostNetwork.dnsPolicy }}
{{- else if .Values.dnsPolicy }}
dnsPolicy: {{ .Values.dnsPolicy }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The sync Job's full name. */}}
{{- define "azure-route-controller.syncName" -}}
{{- printf "%s-sync" (include "azure-route-controller.fullname" . | trunc 58 | trimSuffix "-") }}
{{- end }}

{{/*
The pod template of the sync Job (a hook Job or a CronJob's): `sync-routes` with the controller's identity and
settings. It never restarts in place; the Job's backoffLimit retries.
*/}}
{{- define "azure-route-controller.syncPodTemplate" -}}
metadata:
  labels:
    {{- include "azure-route-controller.labels" . | nindent 4 }}
    app.kubernetes.io/component: sync-routes
    {{- with include "azure-route-controller.identityPodLabels" . | trim }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- include "azure-route-controller.podSpecCommon" . | nindent 2 }}
  restartPolicy: Never
  containers:
    - name: sync-routes
      image: {{ include "azure-route-controller.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      # No command: the image's ENTRYPOINT is node on the bundled CLI; these are its arguments.
      args:
        - sync-routes
        {{- include "azure-route-controller.commonArgs" . | trim | nindent 8 }}
        - {{ printf "--output=%s" .Values.syncJob.output | quote }}
        {{- if .Values.syncJob.dryRun }}
        - "--dry-run"
        {{- end }}
        {{- if .Values.syncJob.createRouteTable }}
        - "--create-route-table"
        {{- end }}
      {{- $env := include "azure-route-controller.azureEnv" . | trim }}
      {{- if or $env .Values.extraEnv }}
      env:
        {{- with $env }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      resources:
        {{- toYaml .Values.syncJob.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        {{- include "azure-route-controller.volumeMounts" . | trim | nindent 8 }}
  volumes:
    {{- include "azure-route-controller.volumes" . | trim | nindent 4 }}
{{- end }}
