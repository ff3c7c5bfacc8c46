// Command pulumi-language-python is KeyBuzz's minimal Python language host.
//
// Why it exists: the upstream host (module
// github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) is not
// served by the Go module proxy this machine reaches (every version answers
// 403 "not available"), so it cannot be built here. The engine only needs a
// small part of the LanguageRuntime service to run a Python program: this host
// implements that part on top of the published sdk/v3 module (gRPC types, the
// Python toolchain helpers) and hands the program to the unmodified
// `pulumi-language-python-exec` script from the same sdk/v3 module, which is
// installed beside this binary.
//
// Supported: Handshake, GetPluginInfo, GetRequiredPlugins/GetRequiredPackages
// (empty: plugins are resolved when the program registers resources),
// Run (preview, up, destroy, refresh), InstallDependencies (checks only),
// About and GetProgramDependencies. Program generation, packing, templates and
// plugin hosting are left unimplemented: `pulumi convert`, `pulumi new` and
// `pulumi package` need the upstream host.
//
// Runtime options honoured from Pulumi.yaml (`runtime.options`): `virtualenv`
// (relative to the project root) and `toolchain` (only `pip`).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is set with -ldflags "-X main.version=..." by toolchain/build.sh.
var version = "0.0.0-dev"

// execScriptName is the upstream Python entry point shipped in the sdk/v3
// module; the build copies it next to this binary.
const execScriptName = "pulumi-language-python-exec"

// exitUserActionable is the exit code the exec script uses after it has already
// shown the user an actionable error message (the engine should bail quietly).
const exitUserActionable = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	engineAddress string
	mu            sync.Mutex
	rootDir       string
}

func (h *host) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.EngineAddress != "" {
		h.engineAddress = req.EngineAddress
	}
	if req.RootDirectory != nil {
		h.rootDir = *req.RootDirectory
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *host) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

// pythonFor resolves the interpreter for a program: the project's virtualenv
// when `runtime.options.virtualenv` is set, the `python3`/`python` on PATH
// otherwise.
func pythonFor(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	if info == nil {
		return nil, errors.New("the engine sent no program info")
	}
	opts := toolchain.PythonOptions{
		Root:       info.RootDirectory,
		ProgramDir: info.ProgramDirectory,
		Toolchain:  toolchain.Pip,
	}
	if o := info.Options; o != nil {
		if v, ok := o.Fields["virtualenv"]; ok {
			opts.Virtualenv = v.GetStringValue()
		}
		if v, ok := o.Fields["toolchain"]; ok && v.GetStringValue() != "" && v.GetStringValue() != "pip" {
			return nil, fmt.Errorf("runtime option toolchain=%q is not supported by this minimal host; "+
				"use pip (a plain virtualenv)", v.GetStringValue())
		}
	}
	return toolchain.ResolveToolchain(opts)
}

func execScript() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	p := filepath.Join(filepath.Dir(self), execScriptName)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s must sit beside %s: %w", execScriptName, self, err)
	}
	return p, nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := pythonFor(req.Info)
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("python virtualenv is not usable: %v", err)}, nil
	}
	script, err := execScript()
	if err != nil {
		return nil, err
	}

	h.mu.Lock()
	engine := h.engineAddress
	root := h.rootDir
	h.mu.Unlock()
	if req.Info != nil && req.Info.RootDirectory != "" {
		root = req.Info.RootDirectory
	}
	program := req.Program
	if req.Info != nil && req.Info.EntryPoint != "" && req.Info.ProgramDirectory != "" {
		program = filepath.Join(req.Info.ProgramDirectory, req.Info.EntryPoint)
	}

	args := []string{"-u", script,
		"--monitor", req.MonitorAddress,
		"--engine", engine,
		"--project", req.Project,
		"--stack", req.Stack,
		"--pwd", req.Pwd,
		"--dry_run", strconv.FormatBool(req.DryRun),
		"--parallel", strconv.Itoa(int(req.Parallel)),
		"--organization", req.Organization,
	}
	if root != "" {
		args = append(args, "--root_directory", root)
	}
	args = append(args, program)
	args = append(args, req.Args...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, err
	}
	env, err := configEnv(req)
	if err != nil {
		return nil, err
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, env...)
	// The engine reads this plugin's own stdout/stderr and shows them as the
	// program's output.
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == exitUserActionable {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("problem executing program: %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// configEnv passes the stack configuration the way the Python SDK reads it:
// PULUMI_CONFIG (a JSON object) and PULUMI_CONFIG_SECRET_KEYS (a JSON array).
func configEnv(req *pulumirpc.RunRequest) ([]string, error) {
	cfg := req.Config
	if cfg == nil {
		cfg = map[string]string{}
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	keys := req.ConfigSecretKeys
	if keys == nil {
		keys = []string{}
	}
	keysJSON, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	return []string{
		"PULUMI_CONFIG=" + string(cfgJSON),
		"PULUMI_CONFIG_SECRET_KEYS=" + string(keysJSON),
	}, nil
}

// InstallDependencies never downloads: this toolchain is for machines where the
// virtualenv is built by `make setup`. It only checks that the virtualenv works.
func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest,
	stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	tc, err := pythonFor(req.Info)
	if err != nil {
		return err
	}
	if err := tc.ValidateVenv(stream.Context()); err != nil {
		return fmt.Errorf("python virtualenv is not usable (create it with `make setup`): %w", err)
	}
	return stream.Send(&pulumirpc.InstallDependenciesResponse{
		Stdout: []byte("keybuzz language host: dependencies come from the project's virtualenv\n"),
	})
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := pythonFor(req.Info)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
		Metadata:   map[string]string{"host": "keybuzz minimal python language host " + version},
	}, nil
}

func (h *host) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := pythonFor(req.Info)
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.TransitiveDependencies)
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, p := range pkgs {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return resp, nil
}

func (h *host) Template(context.Context, *pulumirpc.TemplateRequest) (*pulumirpc.TemplateResponse, error) {
	return nil, status.Error(codes.Unimplemented, "templates need the upstream python language host")
}

func main() {
	// The engine starts language plugins as `<plugin> [flags] <engine address>`:
	// the engine address is the last argument. Flags from older engines
	// (-tracing, -root, -virtualenv, ...) are accepted and ignored.
	h := &host{}
	if n := len(os.Args); n > 1 {
		last := os.Args[n-1]
		if !strings.HasPrefix(last, "-") {
			h.engineAddress = last
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: could not start the gRPC server: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
}
