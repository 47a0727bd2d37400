"""Tests against a real kube-apiserver (../shared/tools/kube-real): `make test-kube-real`."""
