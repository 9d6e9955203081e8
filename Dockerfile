# syntax=docker/dockerfile:1
# Build: compile TypeScript and native addons (better-sqlite3, ssh2) with the toolchain.
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Run: the slim image with only what hookd needs, as a non-root user.
FROM node:20-bookworm-slim
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
# In a container, listen on all interfaces; that needs api.tokens (see README).
ENV HOOKD_HTTP_HOST=0.0.0.0 HOOKD_STORE_PATH=/app/data/hookd.db
EXPOSE 8480
VOLUME ["/app/data"]
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.HOOKD_HTTP_PORT||8480)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/hookd.js"]
CMD ["run", "--config", "config/hookd.yaml", "--rules", "rules"]
