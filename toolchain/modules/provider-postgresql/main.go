// Command pulumi-resource-postgresql is the Terraform-bridged Pulumi provider
// for PostgreSQL, equivalent to upstream pulumi-postgresql v3.18.0's
// provider/cmd/pulumi-resource-postgresql/main.go. The provider code itself
// comes from the pinned upstream tree (see go.mod); toolchain/build.sh puts a
// schema.json (the upstream schema with "version" set) beside this file in the
// stage directory before building.
package main

import (
	_ "embed"

	postgresql "github.com/pulumi/pulumi-postgresql/provider/v3"
	"github.com/pulumi/pulumi-postgresql/provider/v3/pkg/version"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
)

//go:embed schema.json
var pulumiSchema []byte

func main() {
	tfbridge.Main("postgresql", version.Version, postgresql.Provider(), pulumiSchema)
}
