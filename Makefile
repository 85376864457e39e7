# srv6d — the two commands a user needs are `make run` and `make test`.
# Both install what they need first (scripts/deps.sh, idempotent).

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all deps build test lint unit run interop bench clean

all: build

deps:
	./scripts/deps.sh

build: deps
	$(CARGO) build --workspace --all-targets

## make test: lint, then every test, including the root-only namespace tests.
test: deps lint
	$(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## make unit: the tests that need no root (wire, behaviours, FIB).
unit: deps
	SRV6D_SKIP_ROOT_TESTS=1 $(CARGO) nextest run --workspace

## make run: the demo (as root): two sites behind two srv6d edges, a plain
## IPv6 WAN, IPv4 and IPv6 VPNs and two VRFs; prints a summary, tears down.
SRV6D_TARGET_DIR = $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),target)
run: deps
	$(CARGO) build --release -p control --bin srv6d
	SRV6D_BIN=$(abspath $(SRV6D_TARGET_DIR))/release/srv6d \
		$(CARGO) run --release -p control --example sdwan_demo

## make interop: srv6d's behaviours next to the kernel's seg6 on real packets
## (byte-for-byte comparisons and deliveries through kernel SIDs; as root).
interop: deps
	$(CARGO) run --release -p dataplane --example interop_demo

## make bench: micro-benchmarks of the packet core (ns/packet, ns/lookup).
bench: deps
	$(CARGO) bench -p dataplane

clean:
	$(CARGO) clean
