package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// images says which Dockerfile builds each service, and with which
// SERVICE build argument (empty when the Dockerfile serves one service).
var images = map[string]struct{ dockerfile, serviceArg string }{
	"keyservice": {"deploy/Dockerfile", "keyservice"},
	"analytics":  {"deploy/Dockerfile", "analytics"},
	"ingress":    {"deploy/Dockerfile", "ingress"},
	"ocr-worker": {"deploy/Dockerfile.ocr-worker", ""},
}

// dockerfile is a parsed Dockerfile with its build arguments' values.
type dockerfile struct {
	all   []instruction
	final []instruction // the instructions of the last stage
	args  map[string]string
}

func readDockerfile(t *testing.T, path string, buildArgs map[string]string) dockerfile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, path))
	require.NoError(t, err)
	ins, err := parseDockerfile(string(data))
	require.NoError(t, err, path)
	d := dockerfile{all: ins, args: map[string]string{}}
	for _, in := range ins {
		if in.cmd == "ARG" {
			name, def, _ := strings.Cut(in.args, "=")
			if _, set := d.args[name]; !set || def != "" {
				d.args[name] = def
			}
		}
		if in.cmd == "FROM" {
			d.final = nil
		}
		d.final = append(d.final, in)
	}
	for k, v := range buildArgs {
		d.args[k] = v
	}
	return d
}

// expand substitutes ${NAME} and $NAME with the build arguments.
func (d dockerfile) expand(s string) string {
	return os.Expand(s, func(name string) string { return d.args[name] })
}

// find returns the instructions of the final stage with keyword cmd.
func (d dockerfile) find(cmd string) []instruction {
	var out []instruction
	for _, in := range d.final {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// execForm decodes a JSON-array (exec form) argument list.
func execForm(t *testing.T, args string) []string {
	t.Helper()
	var argv []string
	require.NoError(t, json.Unmarshal([]byte(args), &argv), "want exec form [\"...\"]: %s", args)
	require.NotEmpty(t, argv)
	return argv
}

// TestDockerfiles checks every service image: pinned base images, a
// non-root user, a HEALTHCHECK that runs the service's own healthcheck
// subcommand, and, in the build stage, a copy of the service and of every
// workspace module its go.mod replaces (else GOWORK=off cannot build it).
func TestDockerfiles(t *testing.T) {
	for _, service := range services {
		t.Run(service, func(t *testing.T) {
			img, ok := images[service]
			require.True(t, ok, "no image builds %s", service)
			d := readDockerfile(t, img.dockerfile, map[string]string{"SERVICE": img.serviceArg})

			stages := map[string]bool{}
			for _, in := range d.all {
				if in.cmd != "FROM" {
					continue
				}
				fields := strings.Fields(d.expand(in.args))
				ref := fields[0]
				if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
					stages[fields[2]] = true
				}
				if stages[ref] {
					continue
				}
				name := ref[strings.LastIndex(ref, "/")+1:]
				_, tag, tagged := strings.Cut(name, ":")
				require.True(t, tagged && tag != "" && tag != "latest" && !strings.Contains(tag, "$"),
					"line %d: base image %q must be pinned to a tag", in.line, ref)
			}

			users := d.find("USER")
			require.NotEmpty(t, users, "the final stage must set a non-root USER")
			user := d.expand(users[len(users)-1].args)
			name, _, _ := strings.Cut(user, ":")
			require.NotContains(t, []string{"root", "0", ""}, name, "USER %q", user)

			entry := d.find("ENTRYPOINT")
			require.Len(t, entry, 1, "one ENTRYPOINT")
			binary := execForm(t, entry[0].args)[0]

			health := d.find("HEALTHCHECK")
			require.Len(t, health, 1, "one HEALTHCHECK")
			_, cmd, ok := strings.Cut(health[0].args, "CMD ")
			require.True(t, ok, "HEALTHCHECK CMD ...: %s", health[0].args)
			require.Equal(t, []string{binary, "healthcheck"}, execForm(t, strings.TrimSpace(cmd)),
				"the healthcheck must run the service's own healthcheck subcommand (no shell or curl in the image)")

			var copied []string
			for _, in := range d.all {
				if in.cmd != "COPY" || strings.Contains(in.args, "--from") {
					continue
				}
				fields := strings.Fields(d.expand(in.args))
				for _, src := range fields[:len(fields)-1] {
					_, err := os.Stat(filepath.Join(root, src))
					require.NoError(t, err, "line %d: COPY source %s", in.line, src)
					copied = append(copied, filepath.ToSlash(filepath.Clean(src)))
				}
			}
			for _, dir := range append([]string{service}, localModules(t, service)...) {
				require.True(t, slices.Contains(copied, dir), "%s must COPY %s (the service or a module its go.mod replaces); copies %v",
					img.dockerfile, dir, copied)
			}
		})
	}
}

// TestWorkerImage checks what the worker needs at run time: Tesseract's
// languages, PDF and HEIC converters, and OMP_THREAD_LIMIT=1 set in the
// image, since it must be in the environment before the process starts.
func TestWorkerImage(t *testing.T) {
	d := readDockerfile(t, images["ocr-worker"].dockerfile, nil)
	var run, env strings.Builder
	for _, in := range d.find("RUN") {
		run.WriteString(in.args + " ")
	}
	for _, in := range d.find("ENV") {
		env.WriteString(in.args + " ")
	}
	for _, pkg := range []string{"libtesseract5", "tesseract-ocr-eng", "tesseract-ocr-spa", "tesseract-ocr-osd", "poppler-utils", "libheif-examples"} {
		require.Contains(t, strings.Fields(run.String()), pkg, "the worker image must install %s", pkg)
	}
	require.Contains(t, strings.Fields(env.String()), "OMP_THREAD_LIMIT=1")
}

// TestParseDockerfile pins the parser the tests above rely on.
func TestParseDockerfile(t *testing.T) {
	ins, err := parseDockerfile("# c\nFROM a:1 AS b\n\nRUN x \\\n  y\nuser 1\n")
	require.NoError(t, err)
	require.Equal(t, []instruction{{"FROM", "a:1 AS b", 2}, {"RUN", "x  y", 4}, {"USER", "1", 6}}, ins)
	_, err = parseDockerfile("RUN x \\\n")
	require.Error(t, err)
	_, err = parseDockerfile("Run x\n")
	require.Error(t, err)
}

// FuzzParseDockerfile: any text is parsed or refused, never a panic, and
// every instruction has a keyword.
func FuzzParseDockerfile(f *testing.F) {
	for _, seed := range []string{"FROM a\nUSER b\n", "RUN a \\\n b", "#x\n\n", "X", " \\\n", "FROM\tx"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ins, err := parseDockerfile(text)
		if err != nil {
			return
		}
		for _, in := range ins {
			if in.cmd == "" {
				t.Fatalf("instruction without a keyword in %q", text)
			}
		}
	})
}
