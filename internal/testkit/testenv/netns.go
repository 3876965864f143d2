package testenv

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// loopbackOnlyEnv names the test that runs inside the namespace.
const loopbackOnlyEnv = "RELAYCAST_LOOPBACK_ONLY"

// InLoopbackNamespace says whether this is a test's run inside LoopbackOnly's namespace.
func InLoopbackNamespace() bool { return os.Getenv(loopbackOnlyEnv) != "" }

// LoopbackOnly runs the calling (top-level) test again, in a network namespace of its own
// whose only interface is loopback: for peers that cannot be kept off the machine's other
// interfaces (Chromium's WebRTC gathers candidates on every one). It returns true in that
// run, which does the test's work; the outer run waits for it, passes on its log and its
// result, and gets false.
func LoopbackOnly(t *testing.T) bool {
	t.Helper()
	if os.Getenv(loopbackOnlyEnv) == t.Name() {
		return true
	}
	NeedTools(t, "unshare", "ip")
	args := []string{"--user", "--map-root-user", "--net", "sh", "-c", `ip link set lo up && exec "$@"`, "sh",
		os.Args[0], "-test.run", "^" + regexp.QuoteMeta(t.Name()) + "$", "-test.count", "1", "-test.v"}
	for _, a := range os.Args[1:] { // the timeout of this run
		if strings.HasPrefix(a, "-test.timeout") {
			args = append(args, a)
		}
	}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), loopbackOnlyEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("in a network namespace with loopback alone:\n%s", out)
	if err != nil {
		t.Fatalf("the test failed in its network namespace: %v", err)
	}
	return false
}
