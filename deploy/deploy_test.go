// Package deploy validates the deployment files, since no Docker engine or
// Kubernetes cluster runs where `make test` does: docker-compose.yml parsed
// strictly, the Kubernetes base rendered with kustomize and every object
// decoded strictly into its k8s.io/api type, the Dockerfiles read
// instruction by instruction, and every OCR_* variable set anywhere checked
// against the service's own code, so a renamed setting cannot silently stop
// reaching its service.
package deploy

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"
)

// root is the repository, seen from this module.
const root = ".."

// services are the platform's own services, by directory (= Go module).
var services = []string{"keyservice", "ocr-worker", "analytics", "ingress"}

// opsPorts are the ops ports (/livez, /readyz, /metrics) each service
// listens on in a container: the port of its default OCR_OPS_ADDR.
var opsPorts = map[string]int{"keyservice": 9101, "ocr-worker": 9102, "analytics": 9103, "ingress": 9104}

// localModules returns the directories, relative to the repository, of the
// workspace modules service's go.mod replaces with a local path: what an
// image must copy beside it to build with GOWORK=off.
func localModules(t *testing.T, service string) []string {
	t.Helper()
	path := filepath.Join(root, service, "go.mod")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	mf, err := modfile.Parse(path, data, nil)
	require.NoError(t, err)
	var dirs []string
	for _, r := range mf.Replace {
		if modfile.IsDirectoryPath(r.New.Path) {
			dirs = append(dirs, filepath.ToSlash(filepath.Clean(filepath.Join(service, r.New.Path))))
		}
	}
	return dirs
}

var envLiteral = regexp.MustCompile(`"(OCR_[A-Z0-9_]+)"`)

// envRead returns the OCR_* variable names that appear as string literals
// in the non-test Go files of service's module (less the tools under cmd/)
// and of the local modules it replaces (ops reads OCR_OPS_ADDR for every
// service): the variables the service can possibly read.
func envRead(t *testing.T, service string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, dir := range append([]string{service}, localModules(t, service)...) {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			// Tools under cmd/ (load generators) are other binaries.
			if d.IsDir() && d.Name() == "cmd" {
				return filepath.SkipDir
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range envLiteral.FindAllStringSubmatch(string(data), -1) {
				names[m[1]] = true
			}
			return nil
		})
		require.NoError(t, err)
	}
	require.NotEmpty(t, names, "%s reads no OCR_* variable: the scan is broken", service)
	return names
}

// natsUser is a user of nats.conf and the variable holding its password.
type natsUser struct{ name, passwordVar string }

var natsUserLine = regexp.MustCompile(`(?m)^\s*user:\s*([\w-]+),\s*password:\s*\$(\w+)`)

// natsUsers reads the users nats.conf defines, by name.
func natsUsers(t *testing.T) map[string]natsUser {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "nats.conf"))
	require.NoError(t, err)
	users := map[string]natsUser{}
	for _, m := range natsUserLine.FindAllStringSubmatch(string(data), -1) {
		users[m[1]] = natsUser{name: m[1], passwordVar: m[2]}
	}
	require.NotEmpty(t, users, "no user in nats.conf")
	return users
}

// instruction is one Dockerfile instruction: its keyword, upper case, and
// the rest of its (continued) line.
type instruction struct {
	cmd, args string
	line      int
}

// parseDockerfile splits a Dockerfile into instructions, joining lines
// continued with a trailing backslash and dropping comments and blank lines.
func parseDockerfile(text string) ([]instruction, error) {
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		cont := strings.HasSuffix(line, `\`)
		cur.WriteString(strings.TrimSuffix(line, `\`))
		if cont {
			cur.WriteString(" ")
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		if cmd == "" || strings.ToUpper(cmd) != cmd && strings.ToLower(cmd) != cmd {
			return nil, fmt.Errorf("line %d: %q is not an instruction", start, cmd)
		}
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("line %d: the file ends inside a continued line", start)
	}
	return out, nil
}
