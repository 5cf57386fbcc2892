# The seekable media server as an image (docker-compose.yml runs two of them behind HAProxy).
# Node 24 runs the TypeScript sources directly (type stripping): no build of the server. The
# stripped JavaScript is kept in Node's compile cache, filled here once (server/start.js).

# Stage 1: the browser demo's scripts (`npm run build:demo`, tsc from the dev dependencies).
FROM node:24-slim AS demo
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` dev dependency would download a second Node 24, and `prepare`
# needs sources not copied here; tsc is run with the image's own node for the same reason.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY player-demo ./player-demo
RUN node node_modules/typescript/bin/tsc -p player-demo

# Stage 2: what `npm start` needs at run time: the dependencies (no dev ones), server/,
# storage/ and the demo.
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# No runtime dependency has an install script; `prepare` builds the load tool's CLI, not needed here.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY server ./server
COPY storage ./storage
COPY --from=demo /app/player-demo ./player-demo
# /media starts as the sample library: a named volume mounted there is filled from it on first
# use, and both instances share that volume. /data keeps the generated TLS certificate.
COPY --chown=node:node storage/sample-library /media
RUN mkdir -p /data && chown node:node /data
USER node
# As `npm start`'s prestart: loads every module once (--help prints the usage and exits), so
# the compile cache (/tmp/node-compile-cache, the node user's) holds them all and a container
# starts without loading Node's TypeScript stripper (about 28 MiB resident less per instance).
RUN node server/start.js --help 2> /dev/null
ENV HOST=0.0.0.0 PORT=8443 MEDIA_ROOT=/media DATA_DIR=/data
EXPOSE 8443
HEALTHCHECK --interval=5s --timeout=4s --start-period=10s --retries=3 CMD ["node", "server/healthcheck.ts"]
# = `npm start` without npm in between, so SIGTERM reaches the server (graceful drain).
CMD ["node", "server/start.js"]
