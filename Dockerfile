# Meshboard: the web app and the signaling server in one small image.
#
#   docker build -t meshboard .
#   docker run --rm -p 8080:8080 meshboard          # then open http://localhost:8080
#
# The build steps are the commands `cargo xtask run` and CI (`.ci/run` -> `cargo xtask test`)
# run, in the same order and with the same versions (xtask/src/setup.rs, xtask/src/main.rs):
# wasm32 target, trunk 0.21.14, wasm-bindgen-cli at the Cargo.lock version, `npm ci --prefix e2e`
# for binaryen's wasm-opt, `trunk build --release --offline`, `cargo xtask precompress` (brotli
# and gzip copies the server sends as they are), `cargo build --release -p signaling`.
# `signaling/tests/deploy.rs` checks that they stay the same.

ARG RUST_VERSION=1.95
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS node

# ---- build: the app (wasm, with Trunk) and the server ----
FROM rust:${RUST_VERSION}-bookworm AS build
# Node 20 and npm, for binaryen's wasm-opt (the version Trunk.toml names).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm

WORKDIR /src
# Tools first, so that they stay cached while the sources change.
COPY Cargo.lock Trunk.toml ./
RUN rustup target add wasm32-unknown-unknown \
 && cargo install trunk --version 0.21.14 --locked \
 && WASM_BINDGEN="$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)" \
 && cargo install wasm-bindgen-cli --version "$WASM_BINDGEN"
COPY e2e/package.json e2e/package-lock.json e2e/
RUN npm ci --no-audit --no-fund --prefix e2e

COPY . .
ENV PATH=/src/e2e/node_modules/.bin:$PATH \
    TRUNK_OFFLINE=true \
    TRUNK_SKIP_VERSION_CHECK=true
RUN trunk build --release --offline \
 && cargo xtask precompress \
 && cargo build --release -p signaling

# ---- the always-on peer (meshboard-peer), an image of its own: ----
#   docker build --target peer -t meshboard-peer .
#   docker run --rm --network host -v meshboard-peer:/var/lib/meshboard-peer meshboard-peer \
#     run --signaling-url wss://board.example.com/ws
# (`add <link>` the same way first; host networking, or publish a UDP range and set
# MESHBOARD_PEER_ICE_IP to the address browsers reach: see docs/self-hosting.md.) Not built by
# a plain `docker build`, whose target is the last stage, the server's.
FROM rust:${RUST_VERSION}-bookworm AS peer-build
WORKDIR /src
COPY . .
RUN cargo build --release -p meshboard-peer

FROM debian:bookworm-slim AS peer
RUN useradd --system --no-create-home --shell /usr/sbin/nologin meshboard-peer \
 && mkdir -p /var/lib/meshboard-peer && chown meshboard-peer /var/lib/meshboard-peer \
 && chmod 700 /var/lib/meshboard-peer
COPY --from=peer-build /src/target/release/meshboard-peer /usr/local/bin/meshboard-peer
USER meshboard-peer
ENV MESHBOARD_PEER_DATA_DIR=/var/lib/meshboard-peer
VOLUME /var/lib/meshboard-peer
# SIGTERM: store what is held, leave the rooms.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/meshboard-peer"]

# ---- run: the binary and the built app, nothing else ----
FROM debian:bookworm-slim
RUN useradd --system --no-create-home --shell /usr/sbin/nologin meshboard
COPY --from=build /src/target/release/signaling /usr/local/bin/signaling
COPY --from=build /src/dist /srv/meshboard/dist
USER meshboard
# Listen on all interfaces inside the container; publish the port (or put a proxy in front).
ENV MESHBOARD_LISTEN=0.0.0.0:8080 \
    MESHBOARD_STATIC_DIR=/srv/meshboard/dist
EXPOSE 8080
# SIGTERM (docker stop) drains connections within a few seconds.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/signaling"]
