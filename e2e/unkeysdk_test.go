package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// unkeySDKSteps are the steps e2e/unkeysdk/scenario.mjs prints, in order.
// A step the scenario stops printing fails the test, so a scenario that
// silently does less cannot pass.
var unkeySDKSteps = []string{
	"keys.createKey", "keys.verifyKey credits", "keys.verifyKey USAGE_EXCEEDED",
	"keys.updateCredits", "keys.updateKey", "keys.getKey", "keys.getKey NOT_FOUND",
	"keys.createKey BAD_REQUEST", "keys.whoami", "apis.listKeys", "keys.rerollKey", "keys.deleteKey",
	"ratelimit.limit", "identities", "non-root key refused", "done",
}

// minNodeMajor is the oldest Node.js the scenario runs on: the SDK's
// RUNTIMES.md supports Node 18 and later (it declares no engines).
const minNodeMajor = 18

// sdkInstallHint says how to get what the scenario needs.
const sdkInstallHint = "run deploy/scripts/deps.sh (what `make test` does first): it installs Node.js and npm " +
	"from Debian when node is missing or older than 18, and runs `npm ci` in e2e/unkeysdk"

// TestUnkeySDK proves the /v2 API with a real client: the official
// @unkey/api SDK, pinned in e2e/unkeysdk/package.json and pointed at the
// ingress with serverURL, creates, verifies, tops up, updates, reads, lists,
// rotates and deletes a key, runs a standalone rate limit and an identity,
// and is refused with a non-root key, validating every answer against
// Unkey's own schemas. It never skips for a missing node or SDK: it fails
// and says how to install them.
func TestUnkeySDK(t *testing.T) {
	node := requireUnkeySDK(t)
	s := startStack(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "scenario.mjs")
	cmd.Dir = "unkeysdk"
	cmd.Env = append(os.Environ(), "OCR_URL="+s.url, "OCR_ROOT_KEY="+rootKey, "OCR_API_ID=api_ocr", "NO_COLOR=1")
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	passed := map[string]bool{}
	var order []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		t.Log("scenario: " + line)
		var st struct {
			Step string `json:"step"`
			OK   bool   `json:"ok"`
		}
		if json.Unmarshal([]byte(line), &st) == nil && st.Step != "" && st.OK {
			passed[st.Step] = true
			order = append(order, st.Step)
		}
	}
	err = cmd.Wait()
	if stderr.Len() > 0 {
		t.Log("scenario stderr:\n" + stderr.String())
	}
	require.NoError(t, err, "the Unkey SDK scenario failed; its last line above has the SDK error's status and body")
	require.Equal(t, unkeySDKSteps, order, "the scenario's passed steps")
}

// requireUnkeySDK returns the node binary after checking that it is new
// enough and that e2e/unkeysdk has the pinned SDK installed, and fails the
// test (never skips) otherwise.
func requireUnkeySDK(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed, and TestUnkeySDK needs it: %s", sdkInstallHint)
	}
	out, err := exec.Command(node, "--version").Output()
	require.NoError(t, err, "node --version")
	major, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".", 2)[0])
	require.NoError(t, err, "node --version printed %q", out)
	if major < minNodeMajor {
		t.Fatalf("node %s is older than %d: %s", strings.TrimSpace(string(out)), minNodeMajor, sdkInstallHint)
	}

	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, err := os.ReadFile(filepath.Join("unkeysdk", "package.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &pkg))
	want := pkg.Dependencies["@unkey/api"]
	require.NotEmpty(t, want, "e2e/unkeysdk/package.json does not depend on @unkey/api")

	var installed struct {
		Version string `json:"version"`
	}
	b, err = os.ReadFile(filepath.Join("unkeysdk", "node_modules", "@unkey", "api", "package.json"))
	if err != nil {
		t.Fatalf("the Unkey SDK is not installed in e2e/unkeysdk/node_modules: %s", sdkInstallHint)
	}
	require.NoError(t, json.Unmarshal(b, &installed))
	if installed.Version != want {
		t.Fatalf("e2e/unkeysdk has @unkey/api %s installed, package.json pins %s: %s", installed.Version, want, sdkInstallHint)
	}
	return node
}
