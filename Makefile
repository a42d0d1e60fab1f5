# pyrunc: the three commands of the README, and the benches.
PY := .venv/bin/python

.PHONY: install test bundle bench clean
install:
	./scripts/install.sh

test:
	$(PY) -m pytest -q tests

bundle:
	$(PY) scripts/make_bundle.py examples/busybox --pyrunc .venv/bin/pyrunc

bench:
	$(PY) -m pytest bench --benchmark-only -q

clean:
	rm -rf build examples/busybox/rootfs examples/busybox/config.json
