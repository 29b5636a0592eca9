package awsproto_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/server/awsproto"
)

type echoInput struct {
	Name  *string  `json:"Name"`
	Data  []byte   `json:"Data"`
	Count *int     `json:"Count"`
	Keys  []string `json:"Keys"`
}

type echoOutput struct {
	Name    string            `json:"Name"`
	Data    []byte            `json:"Data"`
	Count   int               `json:"Count"`
	Keys    []string          `json:"Keys"`
	Tags    map[string]string `json:"Tags"`
	Omitted *string           `json:"Omitted,omitempty"`
}

func echoService() *awsproto.Service {
	return &awsproto.Service{
		TargetPrefix: "Test_1",
		Logger:       nil,
		Operations: map[string]awsproto.Handler{
			"Echo": func(_ context.Context, decode func(v any) error) (any, error) {
				var in echoInput
				if err := decode(&in); err != nil {
					return nil, err
				}
				out := echoOutput{Data: in.Data, Keys: in.Keys, Tags: map[string]string{"k": "v"}}
				if in.Name != nil {
					out.Name = *in.Name
				}
				if in.Count != nil {
					out.Count = *in.Count
				}
				return out, nil
			},
			"Fail": func(context.Context, func(v any) error) (any, error) {
				return nil, awsproto.Errorf("ResourceNotFoundException", "no such thing")
			},
			"Boom": func(context.Context, func(v any) error) (any, error) {
				return nil, errors.New("disk on fire")
			},
			"Nil": func(context.Context, func(v any) error) (any, error) { return nil, nil },
		},
	}
}

type cborResponse struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// postCBOR sends body as a CBOR 1.1 request and decodes the CBOR answer.
func postCBOR(t *testing.T, h http.Handler, contentType, target string, body []byte) cborResponse {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	r.Header.Set("X-Amz-Target", target)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	resp := cborResponse{status: w.Code, header: w.Header(), raw: w.Body.Bytes()}
	require.Equal(t, awsproto.CBOR11, w.Header().Get("Content-Type"))
	require.NoError(t, cbor.Unmarshal(resp.raw, &resp.body), "body % x", resp.raw)
	return resp
}

func mustCBOR(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	require.NoError(t, err)
	return b
}

func requireCBORError(t *testing.T, r cborResponse, status int, typ string) {
	t.Helper()
	require.Equal(t, status, r.status, "body %v", r.body)
	require.Equal(t, typ, r.body["__type"], "body %v", r.body)
	require.Equal(t, typ, r.header.Get("X-Amzn-ErrorType"))
	msg, ok := r.body["message"].(string)
	require.True(t, ok, "message is a text string: %v", r.body)
	require.NotEmpty(t, msg)
	require.Len(t, r.body, 2, "only __type and message: %v", r.body)
}

func TestCBORRequestAndResponse(t *testing.T) {
	svc := echoService()
	data := []byte{0, 1, 2, 0xff, 'x'}
	// The map the Java SDK would send: text keys, Data a byte string.
	body := mustCBOR(t, map[string]any{"Name": "s", "Data": data, "Count": 3, "Keys": []string{"a", "b"}, "Unknown": true})
	r := postCBOR(t, svc, awsproto.CBOR11, "Test_1.Echo", body)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "s", r.body["Name"])
	require.Equal(t, data, r.body["Data"], "Data comes back as a byte string")
	require.EqualValues(t, 3, r.body["Count"])
	require.Equal(t, []any{"a", "b"}, r.body["Keys"])
	require.Equal(t, map[any]any{"k": "v"}, r.body["Tags"])
	require.NotContains(t, r.body, "Omitted", "omitempty is honoured")

	// The response's keys are text strings and its bytes a byte string.
	var typed struct {
		Name string `cbor:"Name"`
		Data []byte `cbor:"Data"`
	}
	dm, err := cbor.DecOptions{ExtraReturnErrors: cbor.ExtraDecErrorUnknownField}.DecMode()
	require.NoError(t, err)
	require.Error(t, dm.Unmarshal(r.raw, &typed), "other fields are present")
	require.NoError(t, cbor.Unmarshal(r.raw, &typed))
	require.Equal(t, data, typed.Data)
}

func TestCBORIndefiniteLengthAndCaseInsensitive(t *testing.T) {
	// Jackson's CBORGenerator writes maps with indefinite length: 0xbf … 0xff.
	var body []byte
	body = append(body, 0xbf)
	body = append(body, mustCBOR(t, "name")...) // field names match case-insensitively, as in JSON
	body = append(body, mustCBOR(t, "x")...)
	body = append(body, mustCBOR(t, "Data")...)
	body = append(body, 0x5f, 0x42, 'a', 'b', 0x41, 'c', 0xff) // indefinite byte string "abc"
	body = append(body, 0xff)
	for _, ct := range []string{awsproto.CBOR11, "Application/X-Amz-CBOR-1.1; charset=utf-8"} {
		r := postCBOR(t, echoService(), ct, "Test_1.Echo", body)
		require.Equal(t, http.StatusOK, r.status, "%v", r.body)
		require.Equal(t, "x", r.body["Name"])
		require.Equal(t, []byte("abc"), r.body["Data"])
	}
}

func TestCBOREmptyBodyAndNilOutput(t *testing.T) {
	r := postCBOR(t, echoService(), awsproto.CBOR11, "Test_1.Echo", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "", r.body["Name"])
	require.Nil(t, r.body["Data"], "a nil slice is null, as in JSON")

	r = postCBOR(t, echoService(), awsproto.CBOR11, "Test_1.Nil", mustCBOR(t, map[string]any{}))
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, []byte{0xa0}, r.raw, "an empty map")
}

func TestCBORErrors(t *testing.T) {
	svc := echoService()
	empty := mustCBOR(t, map[string]any{})
	requireCBORError(t, postCBOR(t, svc, awsproto.CBOR11, "Test_1.Fail", empty), 400, "ResourceNotFoundException")
	requireCBORError(t, postCBOR(t, svc, awsproto.CBOR11, "Test_1.Nope", empty), 400, awsproto.UnknownOperation)
	requireCBORError(t, postCBOR(t, svc, awsproto.CBOR11, "Other_1.Echo", empty), 400, awsproto.UnknownOperation)
	requireCBORError(t, postCBOR(t, svc, awsproto.CBOR11, "Test_1.Boom", empty), 500, awsproto.InternalFailure)

	r := postCBOR(t, svc, awsproto.CBOR11, "Test_1.Fail", empty)
	require.Equal(t, "no such thing", r.body["message"])

	// Not POST.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Content-Type", awsproto.CBOR11)
	req.Header.Set("X-Amz-Target", "Test_1.Echo")
	w := httptest.NewRecorder()
	svc.ServeHTTP(w, req)
	require.Equal(t, 400, w.Code)
	require.Equal(t, awsproto.CBOR11, w.Header().Get("Content-Type"))
	var body map[string]any
	require.NoError(t, cbor.Unmarshal(w.Body.Bytes(), &body))
	require.Equal(t, awsproto.Serialization, body["__type"])
}

func TestCBORMalformed(t *testing.T) {
	svc := echoService()
	valid := mustCBOR(t, map[string]any{"Name": "s", "Data": []byte("abc"), "Count": 3})
	for name, body := range map[string][]byte{
		"truncated":         valid[:len(valid)-1],
		"trailing bytes":    append(append([]byte{}, valid...), 0x00),
		"two documents":     append(append([]byte{}, valid...), valid...),
		"array":             mustCBOR(t, []int{1, 2}),
		"text":              mustCBOR(t, "x"),
		"integer":           mustCBOR(t, 7),
		"wrong field type":  mustCBOR(t, map[string]any{"Count": "three"}),
		"float for integer": mustCBOR(t, map[string]any{"Count": 1.5}),
		"text for bytes":    mustCBOR(t, map[string]any{"Keys": []byte("x")}),
		"invalid utf-8":     {0xa1, 0x64, 'N', 'a', 'm', 'e', 0x62, 0xff, 0xfe},
		"break alone":       {0xff},
		"reserved":          {0xa1, 0x1c},
		"unclosed indef":    {0xbf, 0x64, 'N', 'a', 'm', 'e', 0x61, 'x'},
		"JSON":              []byte(`{"Name":"s"}`),
		"deep nesting":      bytes.Repeat([]byte{0x81}, 100),
		"huge length":       {0xa1, 0x64, 'D', 'a', 't', 'a', 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		t.Run(name, func(t *testing.T) {
			requireCBORError(t, postCBOR(t, svc, awsproto.CBOR11, "Test_1.Echo", body), 400, awsproto.Serialization)
		})
	}
}

// TestCBORNeverInternalFailure mutates a valid request every which way:
// the answer is a 200 or a 400, never a 500, and always CBOR.
func TestCBORNeverInternalFailure(t *testing.T) {
	svc := echoService()
	valid := mustCBOR(t, map[string]any{"Name": "s", "Data": []byte("abc"), "Count": 3, "Keys": []string{"k"}})
	check := func(body []byte) {
		r := postCBOR(t, svc, awsproto.CBOR11, "Test_1.Echo", body)
		require.Contains(t, []int{200, 400}, r.status, "body % x: %v", body, r.body)
		if r.status == 400 {
			require.Equal(t, awsproto.Serialization, r.body["__type"])
		}
	}
	for i := range valid {
		check(valid[:i])
		for _, v := range []byte{0x00, 0x1f, 0x5f, 0x7f, 0x9f, 0xbf, 0xc1, 0xf9, 0xfb, 0xff} {
			b := append([]byte{}, valid...)
			b[i] = v
			check(b)
		}
	}
}

func TestJSONUnchangedByCBOR(t *testing.T) {
	svc := echoService()
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader([]byte(`{"Name":"s","Data":"YWJj"}`)))
	r.Header.Set("Content-Type", awsproto.JSON11)
	r.Header.Set("X-Amz-Target", "Test_1.Echo")
	w := httptest.NewRecorder()
	svc.ServeHTTP(w, r)
	require.Equal(t, 200, w.Code)
	require.Equal(t, awsproto.JSON11, w.Header().Get("Content-Type"))
	b, _ := io.ReadAll(w.Body)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out))
	require.Equal(t, "YWJj", out["Data"])

	// A JSON error stays JSON, and a request with no Content-Type is JSON.
	r = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader([]byte(`{`)))
	r.Header.Set("X-Amz-Target", "Test_1.Echo")
	w = httptest.NewRecorder()
	svc.ServeHTTP(w, r)
	require.Equal(t, 400, w.Code)
	require.Equal(t, awsproto.JSON11, w.Header().Get("Content-Type"))
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
	require.Equal(t, awsproto.Serialization, out["__type"])
}
