# syntax=docker/dockerfile:1
# azure-route-controller image: TypeScript compiled by tsc, run by Node.js 24 on distroless as uid 65532.
#
#   docker build -t ghcr.io/azure-route-controller/azure-route-controller:0.1.0 .
#
# The Helm chart passes only arguments (`run ...`, `sync-routes ...`); the ENTRYPOINT below is the command.

ARG NODE_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# build: every dependency (tsc is a devDependency; so is `node`, the pinned Node 24 runtime that npm scripts use),
# then compile src/ to dist/.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# prod-deps: only the runtime dependencies. The `node` devDependency is omitted, so nothing is downloaded for it.
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# The runtime: Node.js 24 and nothing else (no shell, no package manager), user nonroot (65532).
FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="azure-route-controller" \
      org.opencontainers.image.description="Keeps Azure route tables in step with Kubernetes node pod CIDRs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
# dist/cli/main.js reads ../../package.json (its version) at start-up, so package.json sits next to dist/.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER 65532:65532
EXPOSE 8080
# --max-semi-space-size=1 (MiB): a small young generation is scavenged more often and hands memory back, which
# cuts the peak RSS by about a quarter at no measurable cost in reconcile time (ADR 8, BENCHMARKS.md). The
# benchmark reads the Node flags from this line, so it measures exactly what the image runs.
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=1", "/app/dist/cli/main.js"]
CMD ["--help"]
