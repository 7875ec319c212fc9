package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/metald/metald-client/go/internal/testenv"
)

// Files written by the Go client (guest/testdata) load, convert, and render back unchanged.
func TestGoClientFilesRoundTrip(t *testing.T) {
	for _, name := range []string{"go-web-server.json", "go-config-gen-development.json"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(testenv.RepoRoot(), "guest", "testdata", name)
			original, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := LoadVMConfigFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := f.ToVMConfig()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Metadata["config_name"] != f.Name {
				t.Errorf("config_name = %q, want %q", cfg.Metadata["config_name"], f.Name)
			}
			back, err := FromVMConfigE(cfg, f.Name, f.Description)
			if err != nil {
				t.Fatal(err)
			}
			back.Template = f.Template
			out := filepath.Join(t.TempDir(), "nested", "again.json")
			if err := SaveVMConfigToFile(back, out); err != nil {
				t.Fatal(err)
			}
			written, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(written)) != strings.TrimSpace(string(original)) {
				t.Fatalf("file -> config -> file changed it:\n--- written\n%s\n--- original\n%s", written, original)
			}
			if st, _ := os.Stat(out); st.Mode().Perm() != 0o644 {
				t.Errorf("file mode %v, want 0644", st.Mode().Perm())
			}
		})
	}
}

func TestConfigFileErrorsNameTheFileAndTheField(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadVMConfigFromFile(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "failed to read config file") {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"name": "x", "network": [{"id": "eth0", "mode": "ipv5"}], "cpu": {"vcpu_count": -1}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadVMConfigFromFile(bad)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("bad file: %v", err)
	}
	fields := map[string]bool{}
	for _, is := range e.Issues() {
		fields[is.Field] = true
	}
	if !fields["network[0].mode"] || !fields["cpu.vcpu_count"] {
		t.Fatalf("issues %+v do not name both fields", e.Issues())
	}
}

func TestFromVMConfigRefusesWhatTheFormatCannotHold(t *testing.T) {
	cfg := NewVMConfigFromTemplate(TemplateMinimal).WithMemory(1<<20+1, 2<<20, false).Build()
	f := FromVMConfig(cfg, "n", "d")
	if f.Err() == nil {
		t.Fatal("memory that is not whole MiB was accepted (the Go client truncated it)")
	}
	if err := SaveVMConfigToFile(f, filepath.Join(t.TempDir(), "x.json")); err == nil {
		t.Fatal("saved a file that does not hold the config")
	}
	if f := FromVMConfig(nil, "n", "d"); f.Err() == nil {
		t.Fatal("a nil config was converted (the Go client panicked)")
	}
}

func TestBuildersAreSafeFromManyGoroutines(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 32 {
		wg.Go(func() {
			for i := range 20 {
				cfg, err := NewVMConfigFromTemplate(TemplateStandard).WithCPU(uint32(g+1), 64).AddMetadata("i", string(rune('a'+i))).BuildE()
				if err != nil {
					errs <- err
					return
				}
				if cfg.Cpu.VcpuCount != int32(g+1) || cfg.Metadata["i"] != string(rune('a'+i)) {
					errs <- errors.New("a builder saw another goroutine's value")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
