# syntax=docker/dockerfile:1
# Build: compile TypeScript to dist/ and the native addons (better-sqlite3, ssh2) with the toolchain,
# then drop the dev dependencies (tsx, typescript, test tools): the runtime runs compiled JavaScript.
# Node 24 is the current LTS line; the tests run on it and on Node 20.19+ (see README, "Node versions").
FROM node:24-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Run: the slim image with only what hookd needs, as a non-root user.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config ./config
COPY rules ./rules
RUN mkdir -p /app/data && chown -R node:node /app/data
USER node
# In a container, listen on all interfaces; that needs api.tokens (see README). Without them
# hookd exits 1 with "env HOOKD_HTTP_HOST: http.host: no api.tokens are configured ...".
ENV HOOKD_HTTP_HOST=0.0.0.0 HOOKD_STORE_PATH=/app/data/hookd.db
EXPOSE 8480
VOLUME ["/app/data"]
# Probes /healthz where hookd listens: host and port from the same config file (the --config of
# the running hookd) and HOOKD_* variables that hookd itself reads.
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "bin/healthcheck.js"]
ENTRYPOINT ["node", "bin/hookd.js"]
CMD ["run", "--config", "config/hookd.yaml", "--rules", "rules"]
