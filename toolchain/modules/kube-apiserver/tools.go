//go:build tools

// Package tools pins the main package this wrapper builds, so `go mod tidy`
// keeps its requirements. It is never compiled.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
