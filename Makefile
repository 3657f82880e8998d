# slim: build, fixtures, demo, tests.
TARGET      := x86_64-unknown-linux-gnu
SENSOR_BIN  := $(CURDIR)/target/$(TARGET)/release/slim-sensor
SLIM        := $(CURDIR)/target/release/slim
export SLIM_SENSOR_BIN := $(SENSOR_BIN)

.PHONY: build sensor fixtures demo test unit integration clean

## The static sensor: an explicit --target keeps crt-static off build scripts and proc-macros.
sensor:
	RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -p slim-sensor --target $(TARGET)

## slim with the sensor embedded.
build: sensor
	cargo build --release -p slim

fixtures:
	bash tests/fixtures/build.sh

demo: build fixtures
	$(SLIM) build slim-fixture/python-web:latest
	docker images slim-fixture/python-web

## Everything: unit tests, then integration tests against the real engine and fixtures.
test: build fixtures
	cargo test --release --workspace

clean:
	cargo clean

## Speed, size and memory on the fixtures, side by side with the limit (BENCHMARKS.md).
.PHONY: bench
bench: build fixtures
	SLIM=$(SLIM) SLIM_SENSOR=$(SENSOR_BIN) bash bench/bench.sh
