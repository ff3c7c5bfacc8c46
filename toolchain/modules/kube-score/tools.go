//go:build tools

// Package tools pins the main package this wrapper builds, so `go mod tidy`
// keeps its requirements. It is never compiled.
package tools

import _ "github.com/zegl/kube-score/cmd/kube-score"
