package admission_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/server/admission"
	"github.com/shoal-dev/shoal/server/awsproto"
)

const (
	throttleData    = "ProvisionedThroughputExceededException"
	throttleControl = "LimitExceededException"
)

// throttleType answers as Kinesis: data-plane operations get
// ProvisionedThroughputExceededException, the others LimitExceededException.
func throttleType(r *http.Request) string {
	if strings.HasSuffix(awsproto.Target(r), ".Hold") {
		return throttleData
	}
	return throttleControl
}

// testService has two operations: Hold, which waits for gate to close
// (after its body was read and decoded), and Probe, which answers at once.
func testService(gate <-chan struct{}, held chan<- struct{}) *awsproto.Service {
	return &awsproto.Service{TargetPrefix: "Test", Operations: map[string]awsproto.Handler{
		"Hold": func(ctx context.Context, decode func(any) error) (any, error) {
			var in struct{ Pad string }
			if err := decode(&in); err != nil {
				return nil, err
			}
			held <- struct{}{}
			<-gate
			return map[string]int{"Len": len(in.Pad)}, nil
		},
		"Probe": func(context.Context, func(any) error) (any, error) { return map[string]bool{"OK": true}, nil },
	}}
}

type reply struct {
	status  int
	errType string
	body    string
	took    time.Duration
	err     error
}

func post(client *http.Client, url, target string, body io.Reader, length int64) reply {
	start := time.Now()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		return reply{err: err}
	}
	req.ContentLength = length
	req.Header.Set("Content-Type", awsproto.JSON11)
	req.Header.Set("X-Amz-Target", target)
	resp, err := client.Do(req)
	if err != nil {
		return reply{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, errType: resp.Header.Get("X-Amzn-ErrorType"), body: string(b), took: time.Since(start)}
}

func padBody(n int) string {
	return `{"Pad":"` + strings.Repeat("x", n-len(`{"Pad":""}`)) + `"}`
}

// TestConcurrentBodiesOverBudget: 8 concurrent 15 MiB bodies against a
// 64 MiB budget: 4 are admitted and held, the other 4 get the throttling
// error at once, a small probe still succeeds meanwhile, and the bytes in
// flight never pass the budget.
func TestConcurrentBodiesOverBudget(t *testing.T) {
	const (
		budget = 64 << 20
		size   = 15 << 20
		n      = 8
		fit    = budget / size // 4
	)
	ctl := admission.New(admission.WithMaxBytes(budget), admission.WithMaxRequests(64),
		admission.WithThrottleType(throttleType), admission.WithMaxBodySize(awsproto.MaxBodySize))
	gate, held := make(chan struct{}), make(chan struct{}, n)
	srv := httptest.NewServer(ctl.Handler(testService(gate, held)))
	defer srv.Close()
	var gateOnce sync.Once
	openGate := func() { gateOnce.Do(func() { close(gate) }) }
	defer openGate()

	body := padBody(size)
	replies := make(chan reply, n)
	for range n {
		go func() { replies <- post(srv.Client(), srv.URL, "Test.Hold", strings.NewReader(body), int64(len(body))) }()
	}
	// The excess is refused at once, while the admitted ones are held.
	for i := range n - fit {
		select {
		case r := <-replies:
			require.NoError(t, r.err)
			require.Equal(t, http.StatusBadRequest, r.status, r.body)
			require.Equal(t, throttleData, r.errType, r.body)
			require.Contains(t, r.body, "retry with backoff")
			require.Less(t, r.took, 5*time.Second)
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of %d refusals came", i, n-fit)
		}
	}
	for range fit {
		<-held
	}
	// A small request still gets in, and is answered.
	probe := post(srv.Client(), srv.URL, "Test.Probe", strings.NewReader("{}"), 2)
	require.NoError(t, probe.err)
	require.Equal(t, http.StatusOK, probe.status, probe.body)
	st := ctl.Stats()
	require.Equal(t, int64(fit), st.Requests)
	require.Equal(t, int64(fit*len(body)), st.Bytes)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("held %d bodies of %d bytes: HeapInuse %d MiB", fit, len(body), ms.HeapInuse>>20)

	openGate()
	for range fit {
		r := <-replies
		require.NoError(t, r.err)
		require.Equal(t, http.StatusOK, r.status, r.body)
	}
	st = ctl.Stats()
	require.LessOrEqual(t, st.PeakBytes, int64(budget))
	require.Equal(t, int64(n-fit), st.Refused)
	require.Zero(t, st.Bytes)
	require.Zero(t, st.Requests)
}

// TestChunkedBodyOverBudget: a body without a Content-Length is reserved
// in pieces as it is read, and refused once it no longer fits; the bytes
// in flight never pass the budget.
func TestChunkedBodyOverBudget(t *testing.T) {
	const budget = 1 << 20
	ctl := admission.New(admission.WithMaxBytes(budget), admission.WithThrottleType(throttleType))
	gate, held := make(chan struct{}), make(chan struct{}, 1)
	close(gate)
	srv := httptest.NewServer(ctl.Handler(testService(gate, held)))
	defer srv.Close()

	small := padBody(100 << 10)
	r := post(srv.Client(), srv.URL, "Test.Hold", io.MultiReader(strings.NewReader(small)), -1)
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status, r.body)

	big := padBody(4 << 20)
	r = post(srv.Client(), srv.URL, "Test.Hold", io.MultiReader(strings.NewReader(big)), -1)
	require.NoError(t, r.err)
	require.Equal(t, http.StatusBadRequest, r.status, r.body)
	require.Equal(t, throttleData, r.errType, r.body)
	st := ctl.Stats()
	require.LessOrEqual(t, st.PeakBytes, int64(budget))
	require.Zero(t, st.Bytes)
}

// TestRequestSlots: past the limit on requests in flight, a request is
// refused at once with the throttling error of its operation.
func TestRequestSlots(t *testing.T) {
	ctl := admission.New(admission.WithMaxRequests(2), admission.WithThrottleType(throttleType))
	gate, held := make(chan struct{}), make(chan struct{}, 2)
	srv := httptest.NewServer(ctl.Handler(testService(gate, held)))
	defer srv.Close()
	replies := make(chan reply, 2)
	for range 2 {
		go func() { replies <- post(srv.Client(), srv.URL, "Test.Hold", strings.NewReader("{}"), 2) }()
	}
	<-held
	<-held
	r := post(srv.Client(), srv.URL, "Test.Probe", strings.NewReader("{}"), 2)
	require.NoError(t, r.err)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, throttleControl, r.errType)
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &e))
	require.Equal(t, throttleControl, e.Type)
	require.Contains(t, e.Message, "too many requests in flight (the limit is 2)")
	close(gate)
	for range 2 {
		require.Equal(t, http.StatusOK, (<-replies).status)
	}
	r = post(srv.Client(), srv.URL, "Test.Probe", strings.NewReader("{}"), 2)
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, int64(2), ctl.Stats().PeakRequests)
}

// TestSlowBodyTimeout: a chunked body trickling in (1 KiB every 100 ms)
// is refused with RequestTimeout at the body timeout, and its connection
// is closed.
func TestSlowBodyTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	ctl := admission.New(admission.WithBodyTimeout(timeout))
	gate, held := make(chan struct{}), make(chan struct{}, 1)
	close(gate)
	srv := httptest.NewServer(ctl.Handler(testService(gate, held)))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	start := time.Now()
	_, err = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Test.Hold\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n", awsproto.JSON11)
	require.NoError(t, err)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		chunk := fmt.Sprintf("%x\r\n%s\r\n", 1024, strings.Repeat(" ", 1024))
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := io.WriteString(conn, chunk); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "no answer to a slow body")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(b))
	require.Equal(t, admission.RequestTimeout, resp.Header.Get("X-Amzn-ErrorType"))
	require.Contains(t, string(b), "did not arrive within 500ms")
	require.GreaterOrEqual(t, took, timeout)
	require.Less(t, took, 5*time.Second)
	require.True(t, resp.Close, "the response says the connection closes")
	// The server closes the connection: the read ends (EOF or reset).
	_, err = br.ReadByte()
	require.Error(t, err)
	require.NotContains(t, err.Error(), "timeout", "the connection stayed open")
	require.Equal(t, int64(1), ctl.Stats().TimedOut)

	// A body that arrives in time passes, even though the handler then
	// runs longer than the body timeout.
	slowOK := &awsproto.Service{TargetPrefix: "Test", Operations: map[string]awsproto.Handler{
		"Slow": func(ctx context.Context, decode func(any) error) (any, error) {
			time.Sleep(2 * timeout)
			return nil, ctx.Err()
		},
	}}
	srv2 := httptest.NewServer(ctl.Handler(slowOK))
	defer srv2.Close()
	for _, length := range []int64{-1, 2} { // chunked, and of a known length
		r := post(srv2.Client(), srv2.URL, "Test.Slow", strings.NewReader("{}"), length)
		require.NoError(t, r.err)
		require.Equal(t, http.StatusOK, r.status, r.body)
	}
}

// TestReserveAndDetach: a handler's own reservations count against the
// budget and are released when it returns; Detach frees the slot of a
// long-running handler.
func TestReserveAndDetach(t *testing.T) {
	ctl := admission.New(admission.WithMaxBytes(10<<20), admission.WithMaxRequests(1), admission.WithThrottleType(throttleType))
	results := make(chan error, 4)
	release, detached := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(ctl.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch awsproto.Target(r) {
		case "Test.Reserve":
			err := admission.Reserve(r.Context(), 8<<20)
			if err == nil {
				err = admission.Reserve(r.Context(), 4<<20) // over: 12 of 10 MiB
			}
			results <- err
			admission.Release(r.Context(), 8<<20)
			results <- admission.Reserve(r.Context(), 4<<20)
		case "Test.Stream":
			admission.Detach(r.Context())
			close(detached)
			<-release
		}
		w.WriteHeader(http.StatusOK)
	})))
	defer srv.Close()

	r := post(srv.Client(), srv.URL, "Test.Reserve", http.NoBody, 0)
	require.Equal(t, http.StatusOK, r.status)
	err := <-results
	var ae *awsproto.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, throttleControl, ae.Type)
	require.NoError(t, <-results)
	require.Zero(t, ctl.Stats().Bytes)
	require.LessOrEqual(t, ctl.Stats().PeakBytes, int64(10<<20))

	streamDone := make(chan reply, 1)
	go func() { streamDone <- post(srv.Client(), srv.URL, "Test.Stream", http.NoBody, 0) }()
	<-detached
	r = post(srv.Client(), srv.URL, "Test.Reserve", http.NoBody, 0)
	require.Equal(t, http.StatusOK, r.status, "a detached stream holds no slot: %s", r.body)
	<-results
	<-results
	close(release)
	require.Equal(t, http.StatusOK, (<-streamDone).status)

	// Without a Controller, Reserve does nothing.
	require.NoError(t, admission.Reserve(context.Background(), 1<<40))
}

func TestDefaults(t *testing.T) {
	ctl := admission.New()
	require.Equal(t, admission.DefaultMaxRequests, ctl.MaxRequests())
	require.Equal(t, admission.DefaultBodyTimeout, ctl.BodyTimeout())
	require.GreaterOrEqual(t, ctl.MaxBytes(), int64(admission.MinDefaultMaxBytes))
	require.LessOrEqual(t, ctl.MaxBytes(), int64(admission.MaxDefaultMaxBytes))
	require.Equal(t, admission.DefaultMaxBytes(), ctl.MaxBytes())
	t.Logf("default byte budget on this machine: %d MiB", ctl.MaxBytes()>>20)
}

// TestSlowBodyTimeoutH2C: over HTTP/2 (h2c) the body timeout applies to
// the stream: a trickling body is refused with RequestTimeout.
func TestSlowBodyTimeoutH2C(t *testing.T) {
	const timeout = 500 * time.Millisecond
	ctl := admission.New(admission.WithBodyTimeout(timeout))
	gate, held := make(chan struct{}), make(chan struct{}, 1)
	close(gate)
	srv := httptest.NewUnstartedServer(ctl.Handler(testService(gate, held)))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	pr, pw := io.Pipe()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer pw.Close()
		for {
			if _, err := io.WriteString(pw, strings.Repeat(" ", 1024)); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	req, err := http.NewRequest(http.MethodPost, srv.URL, pr)
	require.NoError(t, err)
	req.Header.Set("Content-Type", awsproto.JSON11)
	req.Header.Set("X-Amz-Target", "Test.Hold")
	resp, err := client.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 2, resp.ProtoMajor)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(b))
	require.Equal(t, admission.RequestTimeout, resp.Header.Get("X-Amzn-ErrorType"), string(b))
	require.GreaterOrEqual(t, time.Since(start), timeout)
	require.Less(t, time.Since(start), 5*time.Second)

	// The connection still serves other streams.
	r := post(client, srv.URL, "Test.Probe", strings.NewReader("{}"), 2)
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status, r.body)
}

// slowChunked sends a chunked request for target to addr, then 1 KiB
// every 100 ms until stop is closed or the connection fails, and returns
// the response read (or the error) and when it came.
func slowChunked(addr, target string, stop <-chan struct{}) (reply, *http.Response) {
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return reply{err: err}, nil
	}
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n", target, awsproto.JSON11)
	if err != nil {
		return reply{err: err}, nil
	}
	go func() {
		chunk := fmt.Sprintf("%x\r\n%s\r\n", 1024, strings.Repeat(" ", 1024))
		for {
			if _, err := io.WriteString(conn, chunk); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return reply{err: err, took: time.Since(start)}, nil
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := reply{status: resp.StatusCode, errType: resp.Header.Get("X-Amzn-ErrorType"), body: string(b), took: time.Since(start)}
	// The server closes the connection: the read ends (EOF or reset),
	// not at the client's deadline.
	if _, err := br.ReadByte(); err == nil || strings.Contains(err.Error(), "timeout") {
		r.err = fmt.Errorf("the connection stayed open after the refusal (%v)", err)
	}
	return r, resp
}

// pacedReader yields size bytes of a JSON body at rate bytes a second, in
// pieces of 16 KiB, pausing for stall once half of it is out.
type pacedReader struct {
	data     []byte
	rate     int
	stall    time.Duration
	start    time.Time
	off      int
	stalled  bool
	stallFor time.Duration
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.off == len(p.data) {
		return 0, io.EOF
	}
	if p.start.IsZero() {
		p.start = time.Now()
	}
	if !p.stalled && p.off >= len(p.data)/2 {
		p.stalled = true
		time.Sleep(p.stall)
		p.stallFor = p.stall
	}
	// Wait until the bytes out so far are due at rate (the stall aside).
	due := p.start.Add(p.stallFor + time.Duration(float64(p.off)/float64(p.rate)*float64(time.Second)))
	time.Sleep(time.Until(due))
	n := copy(b[:min(len(b), 16<<10)], p.data[p.off:])
	p.off += n
	return n, nil
}

// TestMinBodyRate: 50 concurrent chunked bodies trickling at 1 KiB every
// 100 ms (10 KiB/s) hold every request slot until the minimum rate
// (64 KiB/s after a 2 s grace) cuts them, all within a few seconds,
// long before the body timeout: each gets RequestTimeout and its
// connection is closed. A probe is refused while they hold the slots and
// answered once they are cut. A 4 MiB body at 1 MiB/s that stalls 1.5 s
// halfway passes, and so does a 15 MiB body at full speed.
func TestMinBodyRate(t *testing.T) {
	const (
		n     = 50
		rate  = 64 << 10
		grace = 2 * time.Second
	)
	ctl := admission.New(admission.WithMaxRequests(n), admission.WithBodyTimeout(time.Minute),
		admission.WithMinBodyRate(rate, grace), admission.WithThrottleType(throttleType))
	gate, held := make(chan struct{}), make(chan struct{}, 4)
	close(gate)
	srv := httptest.NewServer(ctl.Handler(testService(gate, held)))
	defer srv.Close()

	stop := make(chan struct{})
	defer close(stop)
	replies := make(chan reply, n)
	start := time.Now()
	for range n {
		go func() {
			r, _ := slowChunked(srv.Listener.Addr().String(), "Test.Hold", stop)
			replies <- r
		}()
	}
	for ctl.Stats().Requests < n {
		require.Less(t, time.Since(start), grace, "the slow bodies never all got in")
		time.Sleep(5 * time.Millisecond)
	}
	r := post(srv.Client(), srv.URL, "Test.Probe", strings.NewReader("{}"), 2)
	require.NoError(t, r.err)
	require.Equal(t, throttleControl, r.errType, "the slow bodies hold every slot: %s", r.body)

	var last time.Duration
	for range n {
		r := <-replies
		require.NoError(t, r.err)
		require.Equal(t, http.StatusBadRequest, r.status, r.body)
		require.Equal(t, admission.RequestTimeout, r.errType, r.body)
		require.Contains(t, r.body, "arrived too slowly")
		require.GreaterOrEqual(t, r.took, grace)
		last = max(last, r.took)
	}
	t.Logf("%d slow bodies cut within %s (grace %s, body timeout %s)", n, last, grace, ctl.BodyTimeout())
	require.Less(t, time.Since(start), grace+5*time.Second)
	st := ctl.Stats()
	require.Equal(t, int64(n), st.TooSlow)
	require.Equal(t, int64(n), st.TimedOut)

	r = post(srv.Client(), srv.URL, "Test.Probe", strings.NewReader("{}"), 2)
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status, r.body)

	// A healthy client: 4 MiB at 1 MiB/s, stalling 1.5 s halfway (the
	// bytes it sent early cover the stall), chunked and of a known length.
	for _, length := range []int64{-1, 4 << 20} {
		body := padBody(4 << 20)
		p := &pacedReader{data: []byte(body), rate: 1 << 20, stall: 1500 * time.Millisecond}
		r = post(srv.Client(), srv.URL, "Test.Hold", p, length)
		require.NoError(t, r.err)
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.Contains(t, r.body, fmt.Sprintf(`"Len":%d`, len(body)-len(`{"Pad":""}`)))
		require.Greater(t, r.took, 4*time.Second)
	}
	// A large body at full speed.
	body := padBody(15 << 20)
	r = post(srv.Client(), srv.URL, "Test.Hold", strings.NewReader(body), int64(len(body)))
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, int64(n), ctl.Stats().TooSlow)
	require.Zero(t, ctl.Stats().Requests)
}

// TestMinBodyRateOff: WithMinBodyRate(0, ...) turns the minimum rate
// off: a slow body is cut only at the body timeout.
func TestMinBodyRateOff(t *testing.T) {
	const timeout = 2 * time.Second
	ctl := admission.New(admission.WithBodyTimeout(timeout), admission.WithMinBodyRate(0, 100*time.Millisecond))
	rate, _ := ctl.MinBodyRate()
	require.Zero(t, rate)
	gate, held := make(chan struct{}), make(chan struct{}, 1)
	close(gate)
	srv := httptest.NewServer(ctl.Handler(testService(gate, held)))
	defer srv.Close()
	stop := make(chan struct{})
	defer close(stop)
	r, _ := slowChunked(srv.Listener.Addr().String(), "Test.Hold", stop)
	require.NoError(t, r.err)
	require.Equal(t, admission.RequestTimeout, r.errType, r.body)
	require.Contains(t, r.body, "did not arrive within 2s")
	require.GreaterOrEqual(t, r.took, timeout)
	require.Zero(t, ctl.Stats().TooSlow)
}

// TestMinBodyRateH2C: over HTTP/2 (h2c) the minimum rate applies to the
// stream: a trickling body is refused with RequestTimeout after the
// grace, a body at 1 MiB/s for 3 s (its deadline moved many times)
// passes, and the connection still serves other streams.
func TestMinBodyRateH2C(t *testing.T) {
	const grace = time.Second
	ctl := admission.New(admission.WithMinBodyRate(64<<10, grace))
	gate, held := make(chan struct{}), make(chan struct{}, 4)
	close(gate)
	srv := httptest.NewUnstartedServer(ctl.Handler(testService(gate, held)))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}

	pr, pw := io.Pipe()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer pw.Close()
		for {
			if _, err := io.WriteString(pw, strings.Repeat(" ", 1024)); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	r := post(client, srv.URL, "Test.Hold", pr, -1)
	require.NoError(t, r.err)
	require.Equal(t, admission.RequestTimeout, r.errType, r.body)
	require.Contains(t, r.body, "arrived too slowly")
	require.GreaterOrEqual(t, r.took, grace)
	require.Less(t, r.took, grace+5*time.Second)

	body := padBody(3 << 20)
	r = post(client, srv.URL, "Test.Hold", &pacedReader{data: []byte(body), rate: 1 << 20}, -1)
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Greater(t, r.took, 2*time.Second)
	r = post(client, srv.URL, "Test.Probe", strings.NewReader("{}"), 2)
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, int64(1), ctl.Stats().TooSlow)
}

// TestNewNilOption: a nil option is skipped, not a panic.
func TestNewNilOption(t *testing.T) {
	c := admission.New(nil, admission.WithMaxRequests(3), nil)
	require.Equal(t, 3, c.MaxRequests())
}
