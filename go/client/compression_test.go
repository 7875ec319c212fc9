package client

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/metald/metald-client/go/internal/testenv"
)

// requestRecord is one line of `metald-host dev-server --request-log`.
type requestRecord struct {
	RPC             string  `json:"rpc"`
	AcceptEncoding  *string `json:"accept_encoding"`
	Status          int     `json:"status"`
	ContentEncoding *string `json:"content_encoding"`
}

func readRequestLog(t *testing.T, path string) []requestRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var records []requestRecord
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		var r requestRecord
		if err := json.Unmarshal(scanner.Bytes(), &r); err != nil {
			t.Fatalf("%s: %q: %v", path, scanner.Text(), err)
		}
		records = append(records, r)
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return records
}

func str(p *string) string {
	if p == nil {
		return "<none>"
	}
	return *p
}

// The dev server compresses every answer it may (as metald does): with the default the client
// asks for gzip and gets it; with Compression "identity" it asks for identity and gets the
// answer uncompressed. Both read the same VM.
func TestCompressionSettingIsWhatTheServerSeesAndAnswers(t *testing.T) {
	for _, tc := range []struct {
		compression, accept, encoding string
	}{
		{"", "gzip", "gzip"},
		{"gzip", "gzip", "gzip"},
		{"identity", "identity", "<none>"},
	} {
		t.Run("compression="+tc.compression, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "requests.jsonl")
			server := testenv.DevServer(t, "--request-log", log)
			ctx := context.Background()
			c, err := New(ctx, Config{ServerAddress: server, UserID: "alice", TenantID: "acme", TLSMode: "disabled", Compression: tc.compression})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			created, err := c.CreateVM(ctx, &CreateVMRequest{Config: NewVMConfigFromTemplate(TemplateMinimal).Build()})
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.GetVMInfo(ctx, created.VMID)
			if err != nil || info.VMID != created.VMID {
				t.Fatalf("GetVMInfo: %+v, %v", info, err)
			}
			records := readRequestLog(t, log)
			if len(records) != 2 {
				t.Fatalf("request log: %+v (want CreateVm and GetVmInfo)", records)
			}
			for _, r := range records {
				if r.Status != 200 || str(r.AcceptEncoding) != tc.accept || str(r.ContentEncoding) != tc.encoding {
					t.Errorf("%s: status %d, Accept-Encoding %s, Content-Encoding %s; want 200, %s, %s",
						r.RPC, r.Status, str(r.AcceptEncoding), str(r.ContentEncoding), tc.accept, tc.encoding)
				}
			}
		})
	}
}
