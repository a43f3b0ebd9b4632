// Command cnitool runs CNI network lists through libcni, the library that
// containerd, CRI-O and podman call plugins with, so that berth's tests see
// plugins the way those runtimes see them. Debian ships libcni's source
// (golang-github-appc-cni-dev) but not upstream's cnitool command;
// scripts/build-cnitool.sh builds this one from that source, offline.
//
//	cnitool add|check|del NETWORK NETNS   run the list named NETWORK from $NETCONFPATH
//	cnitool version TYPE                  the spec versions plugin TYPE answers VERSION with
//	cnitool validate NETWORK              libcni's validation of the list, and its capabilities
//	cnitool libinfo                       the spec versions this libcni speaks
//
// Environment, as upstream's cnitool reads it: CNI_PATH, NETCONFPATH (default
// /etc/cni/net.d), CNI_IFNAME (default eth0), CNI_ARGS (K=V;K=V), CAP_ARGS (a
// JSON object of capability arguments). Added for tests: CNI_CONTAINERID
// (default derived from the netns path, as upstream does), CNI_CACHE_DIR
// (libcni's result cache, default /var/lib/cni) and CNI_RAW_DIR (when set,
// each plugin call's stdin, stdout and wall time in milliseconds are saved
// there as NN-PLUGIN-COMMAND.in, .out and .ms).
//
// ADD prints the result. Any failure prints one CNI error object on stdout
// and exits 1; a usage error exits 2. When a plugin fails, stderr also gets
// one JSON line tagged "pluginFailure" with the plugin's own stdout and exit
// status, because libcni's error hides whether that stdout was a well-formed
// CNI error. This libcni (1.1.2) knows no GC or STATUS: a test runs the
// plugin directly for those.
package main

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

const usage = `usage: cnitool add|check|del NETWORK NETNS
       cnitool version TYPE
       cnitool validate NETWORK
       cnitool libinfo`

// A plugin executable that is still being written fails with ETXTBSY; libcni's
// own executor retries those too.
const (
	busyRetries = 10
	busyPause   = 200 * time.Millisecond
)

// usageError is a wrong command line: exit 2, message on stderr.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	out, err := run(context.Background(), os.Args[1:])
	var bad usageError
	switch {
	case errors.As(err, &bad):
		fmt.Fprintf(os.Stderr, "cnitool: %s\n%s\n", bad.msg, usage)
		os.Exit(2)
	case err != nil:
		printJSON(asCNIError(err))
		os.Exit(1)
	case out != nil:
		printJSON(out)
	}
}

// run carries out one command and returns what to print on stdout (nil for nothing).
func run(ctx context.Context, args []string) (interface{}, error) {
	if len(args) == 0 {
		return nil, usageError{"no command"}
	}
	verb, operands := args[0], args[1:]
	wantOperands := map[string]int{"add": 2, "check": 2, "del": 2, "version": 1, "validate": 1, "libinfo": 0}
	n, known := wantOperands[verb]
	if !known {
		return nil, usageError{fmt.Sprintf("unknown command %q", verb)}
	}
	if len(operands) != n {
		return nil, usageError{fmt.Sprintf("%s takes %d operand(s), got %d", verb, n, len(operands))}
	}

	if verb == "libinfo" {
		return map[string]interface{}{
			"specVersion":       version.Current(),
			"supportedVersions": version.All.SupportedVersions(),
		}, nil
	}
	runner := &pluginRunner{rawDir: os.Getenv("CNI_RAW_DIR")}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), os.Getenv("CNI_CACHE_DIR"), runner)
	if verb == "version" {
		info, err := cni.GetVersionInfo(ctx, operands[0])
		if err != nil {
			return nil, err
		}
		return map[string]interface{}{"supportedVersions": info.SupportedVersions()}, nil
	}

	confDir := os.Getenv("NETCONFPATH")
	if confDir == "" {
		confDir = "/etc/cni/net.d"
	}
	list, err := libcni.LoadConfList(confDir, operands[0])
	if err != nil {
		return nil, err
	}
	if verb == "validate" {
		caps, err := cni.ValidateNetworkList(ctx, list)
		if err != nil {
			return nil, err
		}
		return map[string]interface{}{"capabilities": caps}, nil
	}

	rt, err := runtimeConf(operands[1])
	if err != nil {
		return nil, err
	}
	switch verb {
	case "add":
		result, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			return nil, err
		}
		// The result in its own cniVersion, as libcni hands it to a runtime.
		return result, nil
	case "check":
		return nil, cni.CheckNetworkList(ctx, list, rt)
	default:
		return nil, cni.DelNetworkList(ctx, list, rt)
	}
}

// runtimeConf is what a runtime tells libcni about the container, from the environment.
func runtimeConf(netns string) (*libcni.RuntimeConf, error) {
	path, err := filepath.Abs(netns)
	if err != nil {
		return nil, err
	}
	rt := &libcni.RuntimeConf{NetNS: path, IfName: "eth0", ContainerID: os.Getenv("CNI_CONTAINERID")}
	if ifname, set := os.LookupEnv("CNI_IFNAME"); set {
		rt.IfName = ifname
	}
	if rt.ContainerID == "" {
		sum := sha512.Sum512([]byte(path))
		rt.ContainerID = "cnitool-" + hex.EncodeToString(sum[:10])
	}
	if raw := os.Getenv("CNI_ARGS"); raw != "" {
		for _, pair := range strings.Split(raw, ";") {
			key, value, found := strings.Cut(pair, "=")
			if !found || key == "" {
				return nil, types.NewError(types.ErrInvalidEnvironmentVariables,
					fmt.Sprintf("CNI_ARGS: %q is not KEY=VALUE", pair), "separate pairs with ';'")
			}
			rt.Args = append(rt.Args, [2]string{key, value})
		}
	}
	if raw := os.Getenv("CAP_ARGS"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &rt.CapabilityArgs); err != nil {
			return nil, types.NewError(types.ErrInvalidEnvironmentVariables,
				fmt.Sprintf("CAP_ARGS is not a JSON object: %v", err), raw)
		}
	}
	return rt, nil
}

// pluginRunner is libcni's invoke.Exec: it runs a plugin as libcni's own
// executor does, and in addition reports failures as they were and saves raw
// calls when asked.
type pluginRunner struct {
	version.PluginDecoder
	rawDir string
	calls  int
}

func (r *pluginRunner) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}

func (r *pluginRunner) ExecPlugin(ctx context.Context, plugin string, stdin []byte, environ []string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	var err error
	began := time.Now()
	for attempt := 0; ; attempt++ {
		stdout.Reset()
		stderr.Reset()
		cmd := exec.CommandContext(ctx, plugin)
		cmd.Env = environ
		cmd.Stdin = bytes.NewReader(stdin)
		cmd.Stdout = &stdout
		cmd.Stderr = &stderr
		err = cmd.Run()
		if !errors.Is(err, syscall.ETXTBSY) || attempt == busyRetries {
			break
		}
		time.Sleep(busyPause)
	}
	command := envValue(environ, "CNI_COMMAND")
	r.save(plugin, command, stdin, stdout.Bytes(), time.Since(began))
	if err == nil {
		// A plugin's log lines stay visible, as a runtime's journal would show them.
		os.Stderr.Write(stderr.Bytes())
		return stdout.Bytes(), nil
	}
	reportFailure(plugin, command, err, stdout.Bytes(), stderr.Bytes())
	return nil, errorOfPlugin(err, stdout.Bytes(), stderr.Bytes())
}

func (r *pluginRunner) save(plugin, command string, stdin, stdout []byte, took time.Duration) {
	if r.rawDir == "" {
		return
	}
	r.calls++
	base := filepath.Join(r.rawDir, fmt.Sprintf("%02d-%s-%s", r.calls, filepath.Base(plugin), command))
	ms := strconv.FormatFloat(float64(took.Microseconds())/1000, 'f', 3, 64)
	// Best effort: a test that asked for these files finds out when it reads them.
	_ = os.MkdirAll(r.rawDir, 0o755)
	_ = os.WriteFile(base+".in", stdin, 0o644)
	_ = os.WriteFile(base+".out", stdout, 0o644)
	_ = os.WriteFile(base+".ms", []byte(ms+"\n"), 0o644)
}

// reportFailure writes the "pluginFailure" line: what the plugin itself printed and how it exited.
func reportFailure(plugin, command string, err error, stdout, stderr []byte) {
	exitCode := -1
	var exited *exec.ExitError
	if errors.As(err, &exited) {
		exitCode = exited.ExitCode()
	}
	line, _ := json.Marshal(map[string]interface{}{
		"tag":      "pluginFailure",
		"plugin":   plugin,
		"command":  command,
		"exitCode": exitCode,
		"stdout":   string(stdout),
		"stderr":   string(stderr),
		"strict":   isCNIError(stdout),
	})
	fmt.Fprintf(os.Stderr, "%s\n", line)
}

// isCNIError tells whether out is one well-formed CNI error object: a
// non-negative integer "code" and a string "msg".
func isCNIError(out []byte) bool {
	var e struct {
		Code json.RawMessage `json:"code"`
		Msg  *string         `json:"msg"`
	}
	if json.Unmarshal(out, &e) != nil || e.Msg == nil {
		return false
	}
	_, err := strconv.ParseUint(string(e.Code), 10, 64)
	return err == nil
}

// errorOfPlugin is the error libcni's executor would make of a failed plugin.
func errorOfPlugin(err error, stdout, stderr []byte) *types.Error {
	switch {
	case len(stdout) > 0:
		e := &types.Error{}
		if json.Unmarshal(stdout, e) != nil {
			return types.NewError(types.ErrInternal, fmt.Sprintf("plugin failed and its output is not a CNI error: %q", stdout), "")
		}
		return e
	case len(stderr) > 0:
		return types.NewError(types.ErrInternal, fmt.Sprintf("plugin failed: %q", stderr), "")
	default:
		return types.NewError(types.ErrInternal, fmt.Sprintf("plugin failed with no error message: %v", err), "")
	}
}

// asCNIError is the plugin's own error when one caused err, else err as code 999.
func asCNIError(err error) *types.Error {
	var cniErr *types.Error
	if errors.As(err, &cniErr) {
		return cniErr
	}
	return types.NewError(types.ErrInternal, err.Error(), "")
}

func envValue(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

func printJSON(v interface{}) {
	out, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cnitool: cannot print the outcome: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%s\n", out)
}
