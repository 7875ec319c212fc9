package metald

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/metald/metald-client/go/cabi"
	"github.com/metald/metald-client/go/internal/testenv"
)

type codecVectors struct {
	Encode []struct {
		Name        string                     `json:"name"`
		Codec       string                     `json:"codec"`
		Request     map[string]json.RawMessage `json:"request"`
		URL         string                     `json:"url"`
		ContentType string                     `json:"content_type"`
		BodyHex     *string                    `json:"body_hex"`
		Body        *string                    `json:"body"`
		Error       *vectorError               `json:"error"`
	} `json:"encode"`
	Decode []struct {
		Name        string       `json:"name"`
		Codec       string       `json:"codec"`
		Method      string       `json:"method"`
		Status      uint16       `json:"status"`
		ContentType string       `json:"content_type"`
		Encoding    string       `json:"content_encoding"`
		BodyHex     *string      `json:"body_hex"`
		Body        *string      `json:"body"`
		Ok          string       `json:"ok"`
		Error       *vectorError `json:"error"`
	} `json:"decode"`
}

type vectorError struct {
	Kind       string `json:"kind"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	HTTPStatus uint16 `json:"http_status"`
	Field      string `json:"field"`
}

func vectorOptions(codec string) ClientOptions {
	timeout := uint32(1234)
	c := CodecProto
	if codec == "json" {
		c = CodecJson
	}
	return ClientOptions{Server: "http://127.0.0.1:8080/prefix/", UserId: "alice", TenantId: "acme", TimeoutMs: &timeout, Codec: &c}
}

func vectorRequest(t *testing.T, r map[string]json.RawMessage) RpcRequest {
	t.Helper()
	if len(r) != 1 {
		t.Fatalf("request %v: want one key", r)
	}
	for key, raw := range r {
		var id string
		var flags struct {
			VmID           string `json:"vm-id"`
			Force          bool   `json:"force"`
			TimeoutSeconds int32  `json:"timeout-seconds"`
			StateFilter    []any  `json:"state-filter"`
			PageSize       int32  `json:"page-size"`
			PageToken      string `json:"page-token"`
		}
		_ = json.Unmarshal(raw, &id)
		_ = json.Unmarshal(raw, &flags)
		switch key {
		case "boot-vm":
			return RpcRequest{Tag: RpcRequestTagBootVm, BootVm: id}
		case "pause-vm":
			return RpcRequest{Tag: RpcRequestTagPauseVm, PauseVm: id}
		case "resume-vm":
			return RpcRequest{Tag: RpcRequestTagResumeVm, ResumeVm: id}
		case "get-vm-info":
			return RpcRequest{Tag: RpcRequestTagGetVmInfo, GetVmInfo: id}
		case "delete-vm":
			return RpcRequest{Tag: RpcRequestTagDeleteVm, DeleteVm: DeleteVmRequest{VmId: flags.VmID, Force: flags.Force}}
		case "shutdown-vm":
			return RpcRequest{Tag: RpcRequestTagShutdownVm, ShutdownVm: ShutdownVmRequest{VmId: flags.VmID, Force: flags.Force, TimeoutSeconds: flags.TimeoutSeconds}}
		case "reboot-vm":
			return RpcRequest{Tag: RpcRequestTagRebootVm, RebootVm: RebootVmRequest{VmId: flags.VmID, Force: flags.Force}}
		case "list-vms":
			var states []VmState
			for _, s := range flags.StateFilter {
				states = append(states, stateNamed(t, s))
			}
			return RpcRequest{Tag: RpcRequestTagListVms, ListVms: ListVmsRequest{StateFilter: states, PageSize: flags.PageSize, PageToken: flags.PageToken}}
		}
		t.Fatalf("unknown request %q", key)
	}
	return RpcRequest{}
}

// stateNamed is a state of the vectors: a case name, or a number this SDK does not know.
func stateNamed(t *testing.T, name any) VmState {
	if n, ok := name.(float64); ok {
		return VmState{Tag: VmStateTagUnknown, Unknown: int32(n)}
	}
	for s := VmStateTagUnspecified; s < VmStateTagUnknown; s++ {
		if s.String() == name {
			return VmState{Tag: s}
		}
	}
	t.Fatalf("unknown state %v", name)
	return VmState{}
}

// stateText is a state as the vectors write it: the case name, or unknown(N).
func stateText(s VmState) string {
	if s.Tag == VmStateTagUnknown {
		return fmt.Sprintf("unknown(%d)", s.Unknown)
	}
	return s.Tag.String()
}

func vectorBody(t *testing.T, hexBody, text *string) []byte {
	t.Helper()
	switch {
	case hexBody != nil:
		b, err := hex.DecodeString(*hexBody)
		if err != nil {
			t.Fatal(err)
		}
		return b
	case text != nil:
		return []byte(*text)
	}
	return nil
}

// summary is the one-line form of a decoded response that the vectors state.
func summary(r RpcResponse) string {
	sc := func(name string, s StateChangeResponse) string {
		return fmt.Sprintf("%s success=%t state=%s", name, s.Success, stateText(s.State))
	}
	switch r.Tag {
	case RpcResponseTagCreateVm:
		return fmt.Sprintf("create-vm vm-id=%s state=%s", r.CreateVm.VmId, stateText(r.CreateVm.State))
	case RpcResponseTagDeleteVm:
		return fmt.Sprintf("delete-vm success=%t", r.DeleteVm.Success)
	case RpcResponseTagBootVm:
		return sc("boot-vm", r.BootVm)
	case RpcResponseTagShutdownVm:
		return sc("shutdown-vm", r.ShutdownVm)
	case RpcResponseTagPauseVm:
		return sc("pause-vm", r.PauseVm)
	case RpcResponseTagResumeVm:
		return sc("resume-vm", r.ResumeVm)
	case RpcResponseTagRebootVm:
		return sc("reboot-vm", r.RebootVm)
	case RpcResponseTagGetVmInfo:
		var kv []string
		for k, v := range r.GetVmInfo.BackendInfo {
			kv = append(kv, k+":"+v)
		}
		sort.Strings(kv)
		return fmt.Sprintf("get-vm-info vm-id=%s state=%s backend-info=%s", r.GetVmInfo.VmId, stateText(r.GetVmInfo.State), strings.Join(kv, ","))
	case RpcResponseTagListVms:
		l := r.ListVms
		first := ""
		if len(l.Vms) > 0 {
			first = fmt.Sprintf(" first=%s:%s", l.Vms[0].VmId, stateText(l.Vms[0].State))
		}
		return fmt.Sprintf("list-vms n=%d%s next=%s total=%d", len(l.Vms), first, l.NextPageToken, l.TotalCount)
	}
	return "unknown"
}

func checkVectorError(t *testing.T, err error, want *vectorError) {
	t.Helper()
	var re *cabi.ResultError[Error]
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a %s error", err, want.Kind)
	}
	e := re.Value
	switch want.Kind {
	case "connect":
		if e.Tag != ErrorTagConnect || e.Connect.Code.String() != want.Code || (want.Message != "" && e.Connect.Message != want.Message) || e.Connect.HttpStatus != want.HTTPStatus {
			t.Fatalf("got %+v, want %+v", e, want)
		}
	case "transport":
		if e.Tag != ErrorTagTransport || e.Transport.Code.String() != want.Code {
			t.Fatalf("got %+v, want %+v", e, want)
		}
	case "invalid-config":
		if e.Tag != ErrorTagInvalidConfig || len(e.InvalidConfig) == 0 || e.InvalidConfig[0].Field != want.Field {
			t.Fatalf("got %+v, want %+v", e, want)
		}
	default:
		t.Fatalf("unknown error kind %q", want.Kind)
	}
}

// The codec vectors shared with the Rust tests (testdata/codec-vectors.json).
func TestCodecVectorsSharedWithTheRustTests(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "testdata", "codec-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v codecVectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	inst := offlineInstance(t)
	for _, e := range v.Encode {
		t.Run("encode "+e.Name, func(t *testing.T) {
			req, err := inst.CodecEncodeRequest(ctx, vectorOptions(e.Codec), vectorRequest(t, e.Request))
			if e.Error != nil {
				checkVectorError(t, err, e.Error)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			headers := map[string]string{}
			for _, h := range req.Headers {
				headers[strings.ToLower(h.F0)] = h.F1
			}
			want := vectorBody(t, e.BodyHex, e.Body)
			if req.Method != "POST" || req.Url != e.URL || headers["content-type"] != e.ContentType || string(req.Body) != string(want) {
				t.Fatalf("got %s %s %q body %x, want %s %q body %x", req.Method, req.Url, headers["content-type"], req.Body, e.URL, e.ContentType, want)
			}
			for k, v := range map[string]string{"connect-protocol-version": "1", "connect-timeout-ms": "1234", "authorization": "Bearer dev_user_alice", "x-tenant-id": "acme"} {
				if headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, headers[k], v)
				}
			}
		})
	}
	for _, d := range v.Decode {
		t.Run("decode "+d.Name, func(t *testing.T) {
			method := RpcMethod(0)
			for m := RpcMethodCreateVm; m <= RpcMethodListVms; m++ {
				if m.String() == d.Method {
					method = m
				}
			}
			resp := HttpResponse{Status: d.Status, Headers: []cabi.Tuple2[string, string]{{F0: "Content-Type", F1: d.ContentType}}, Body: vectorBody(t, d.BodyHex, d.Body)}
			if d.Encoding != "" {
				resp.Headers = append(resp.Headers, cabi.Tuple2[string, string]{F0: "Content-Encoding", F1: d.Encoding})
			}
			got, err := inst.CodecDecodeResponse(ctx, vectorOptions(d.Codec), method, resp)
			if d.Error != nil {
				checkVectorError(t, err, d.Error)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := summary(got); s != d.Ok {
				t.Fatalf("got %q, want %q", s, d.Ok)
			}
		})
	}
}
