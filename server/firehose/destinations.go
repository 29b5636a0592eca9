package firehose

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/delivery/pgarchive"
	"github.com/shoal-dev/shoal/server/awsproto"
)

// deliveryConfig maps a stored configuration onto the delivery runtime's,
// opening its destination; the closers release the destination.
func (m *Manager) deliveryConfig(ctx context.Context, cfg *streamConfig) (delivery.Config, []io.Closer, error) {
	size, interval := cfg.buffering()
	dc := delivery.Config{
		Name:    cfg.Name,
		Version: cfg.Version,
		Buffering: delivery.BufferingHints{
			SizeMiB: int(size), Interval: time.Duration(interval) * time.Second, IntervalSet: true,
		},
		Metrics: m.opts.Metrics,
		Now:     m.opts.Now,
		Logger:  m.logger.With("delivery_stream", cfg.Name),
	}
	switch cfg.Type {
	case typeDirectPut:
		dc.Source = delivery.Source{Log: m.log, StreamName: cfg.Name, DirectPut: true, Checkpoints: m.cps}
	case typeKinesisSource:
		if m.opts.Kinesis == nil {
			return dc, nil, invalidArg("KinesisStreamSourceConfiguration", "this server has no Kinesis log to read")
		}
		dc.Source = delivery.Source{Log: m.opts.Kinesis, StreamName: cfg.SourceStream, Checkpoints: m.cps}
	}
	switch {
	case cfg.S3 != nil:
		field := "S3DestinationConfiguration"
		if cfg.S3.Extended {
			field = "ExtendedS3DestinationConfiguration"
		}
		dest, err := m.objectDestination(ctx, field, cfg)
		if err != nil {
			return dc, nil, err
		}
		dc.Destination = dest
		return dc, nil, nil
	case cfg.Redshift != nil:
		dsn, err := redshiftDSN(cfg.Redshift, m.opts.ArchiveDSN)
		if err != nil {
			return dc, nil, err
		}
		dest, closer, err := m.opts.Archive(ctx, dsn, cfg.Redshift.Table)
		if err != nil {
			return dc, nil, invalidArg("RedshiftDestinationConfiguration", "the PostgreSQL archive cannot be opened: %v", err)
		}
		dc.Destination = dest
		var closers []io.Closer
		if closer != nil {
			closers = append(closers, closer)
		}
		return dc, closers, nil
	}
	return dc, nil, invalidArg("Destination", "a destination is required")
}

// objectDestination opens the object store of an S3 destination.
func (m *Manager) objectDestination(ctx context.Context, field string, cfg *streamConfig) (*delivery.ObjectDestination, error) {
	s := cfg.S3
	comp, err := checkCompression(field+".CompressionFormat", &s.Compression)
	if err != nil {
		return nil, err
	}
	var store delivery.ObjectStore
	if m.opts.Objects != nil {
		store, err = m.opts.Objects(ctx, s.Bucket)
	} else {
		store, err = delivery.NewDirStore(filepath.Join(m.opts.Dir, "objects", s.Bucket))
	}
	if err != nil {
		return nil, fmt.Errorf("firehose: the object store of bucket %s: %w", s.Bucket, err)
	}
	dest, err := delivery.NewObjectDestination(store, delivery.ObjectOptions{
		Layout: delivery.KeyLayout{Prefix: s.Prefix, ErrorOutputPrefix: s.ErrorOutputPrefix},
		// Firehose writes the records' data as sent, concatenated.
		Format:         delivery.Raw(),
		NoIndex:        true,
		Compression:    comp,
		DeliveryStream: cfg.Name,
		Version:        cfg.Version,
		Now:            m.opts.Now,
	})
	if err != nil {
		return nil, awsproto.Errorf(errInvalidArgument, "%s: %s", field, trim(err))
	}
	return dest, nil
}

// redshiftDSN is the PostgreSQL connection string of a Redshift
// destination: its ClusterJDBCURL (jdbc:redshift:// or
// jdbc:postgresql://HOST:PORT/DB) with Username and Password, or def when
// the URL is empty.
func redshiftDSN(r *redshiftDest, def string) (string, error) {
	const field = "RedshiftDestinationConfiguration.ClusterJDBCURL"
	if r.ClusterJDBCURL == "" {
		if def == "" {
			return "", invalidArg(field, "is empty and the server has no default PostgreSQL archive (shoal serve --archive-postgres or SHOAL_ARCHIVE_POSTGRES)")
		}
		return def, nil
	}
	return jdbcToDSN(field, r.ClusterJDBCURL, r.Username, r.Password)
}

// jdbcToDSN converts jdbc:redshift://HOST:PORT/DB?PARAMS or
// jdbc:postgresql://... to postgres://USER:PASSWORD@HOST:PORT/DB?PARAMS.
func jdbcToDSN(field, jdbc, user, password string) (string, error) {
	const form = "jdbc:postgresql://HOST:PORT/DATABASE or jdbc:redshift://HOST:PORT/DATABASE"
	rest, ok := strings.CutPrefix(jdbc, "jdbc:")
	if !ok {
		return "", invalidArg(field, "%q is not a JDBC URL (%s)", truncate(jdbc, 256), form)
	}
	u, err := url.Parse(rest)
	if err != nil || (u.Scheme != "postgresql" && u.Scheme != "redshift") || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return "", invalidArg(field, "%q is not a JDBC URL (%s)", truncate(jdbc, 256), form)
	}
	u.Scheme = "postgres"
	switch {
	case user != "" && password != "":
		u.User = url.UserPassword(user, password)
	case user != "":
		u.User = url.User(user)
	}
	return u.String(), nil
}

// PostgresArchive opens the PostgreSQL archive of a Redshift destination:
// a pgx pool on dsn and delivery/pgarchive on table. The closer closes the
// pool. It is ManagerOptions.Archive's default.
func PostgresArchive(ctx context.Context, dsn, table string) (delivery.Destination, io.Closer, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, nil, err
	}
	a, err := pgarchive.New(ctx, pool, pgarchive.Options{Table: table})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return a, closerFunc(pool.Close), nil
}

type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }
