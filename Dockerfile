# vendor-mock: build with the Rust toolchain, run from a small non-root image.
#   docker build -t vendor-mock .
#   docker run --rm -p 127.0.0.1:8080:8080 vendor-mock
# Rust 1.95 (LLVM 22): the version the profile in pgo/ was written for; pgo/rustc-wrapper
# applies it only to a rustc of the same LLVM major version, so another image still builds,
# without profile-guided optimization (BENCHMARKS.md, "Session 9").
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# make: jemalloc (the binary's allocator) is built from its C sources.
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, in their own layer: it depends on Cargo.toml, Cargo.lock and the
# build's configuration (.cargo, pgo) only, so an edit to the sources reuses it and rebuilds
# just this crate. The stand-in lib.rs and
# main.rs only give cargo something to build; their own artifacts are deleted so the real
# sources below are always compiled.
COPY Cargo.toml Cargo.lock ./
# .cargo/config.toml runs every rustc through pgo/rustc-wrapper: the dependencies are
# compiled with the profile too.
COPY .cargo ./.cargo
COPY pgo ./pgo
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin vendor-mock \
    && rm -rf src target/release/vendor-mock* target/release/deps/vendor_mock-* \
        target/release/deps/libvendor_mock-* target/release/.fingerprint/vendor-mock-*

# The crate itself. build.rs hands link/startup.ld and link/startup.order to the linker
# where it takes them (this image's rustup toolchain links with rust-lld, which does):
# start-up code laid out together, a smaller idle resident set.
COPY build.rs ./
COPY link ./link
COPY src ./src
COPY fixtures ./fixtures
COPY scenarios ./scenarios
# The OpenAPI documents, compiled in (GET /__admin/openapi/<vendor>, `vendor-mock openapi`).
COPY openapi ./openapi
RUN cargo build --release --locked --bin vendor-mock

# distroless/cc: glibc and libgcc only, no shell, runs as uid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/vendor-mock /usr/local/bin/vendor-mock
ENV VENDOR_MOCK_LISTEN=0.0.0.0:8080
EXPOSE 8080
USER 65532:65532
# No shell in the image: the binary checks its own health.
HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=3 CMD ["/usr/local/bin/vendor-mock", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/vendor-mock"]
CMD ["serve"]
