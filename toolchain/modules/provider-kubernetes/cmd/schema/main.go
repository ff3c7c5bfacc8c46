// Command schema writes the Pulumi schema of the Kubernetes provider from a
// Kubernetes OpenAPI v2 document, with the upstream generator package
// (provider/pkg/gen), as upstream's `pulumi-gen-kubernetes schema` does, minus
// the merging of older swagger documents (legacy APIs such as
// extensions/v1beta1) and the SDK code generators.
//
// Usage: schema <swagger.json> <version> <out schema.json>
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/gen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "schema: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 3 || args[0] == "" || args[1] == "" || args[2] == "" {
		return fmt.Errorf("usage: schema <openapi-v2 swagger.json> <version, e.g. 4.32.0> <output schema.json>")
	}
	in, version, out := args[0], args[1], args[2]
	raw, err := os.ReadFile(in)
	if err != nil {
		return fmt.Errorf("reading the OpenAPI document: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("parsing the OpenAPI document %s: %w", in, err)
	}
	if _, ok := doc["definitions"].(map[string]any); !ok {
		return fmt.Errorf("%s is not an OpenAPI v2 document (no \"definitions\" object)", in)
	}
	spec := gen.PulumiSchema(doc, gen.WithResourceOverlays(gen.ResourceOverlays), gen.WithTypeOverlays(gen.TypeOverlays))
	spec.Version = version
	// Same encoding as upstream's generator: no HTML escaping, 4-space indent.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(spec); err != nil {
		return fmt.Errorf("encoding the schema: %w", err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return nil
}
