package firehose

import (
	"context"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/server/awsproto"
)

// Firehose's limit on Start/StopDeliveryStreamEncryption: 25 calls per
// delivery stream per 24 hours.
const (
	maxEncryptionCalls   = 25
	encryptionCallWindow = 24 * time.Hour
)

// parseEncryption validates DeliveryStreamEncryptionConfigurationInput:
// KeyType AWS_OWNED_CMK (the default, without KeyARN) or
// CUSTOMER_MANAGED_CMK (with a KMS key ARN).
func parseEncryption(field string, in *encryptionInput) (*encryptionState, error) {
	st := &encryptionState{Status: "ENABLED", KeyType: "AWS_OWNED_CMK"}
	if in == nil {
		return st, nil
	}
	if in.KeyType != nil && *in.KeyType != "" {
		st.KeyType = *in.KeyType
	}
	arn := ""
	if in.KeyARN != nil {
		arn = *in.KeyARN
	}
	switch st.KeyType {
	case "AWS_OWNED_CMK":
		if arn != "" {
			return nil, invalidArg(field+".KeyARN", "must be left out with KeyType AWS_OWNED_CMK")
		}
	case "CUSTOMER_MANAGED_CMK":
		if arn == "" {
			return nil, invalidArg(field+".KeyARN", "is required with KeyType CUSTOMER_MANAGED_CMK")
		}
		parts := strings.SplitN(arn, ":", 6)
		if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kms" || parts[5] == "" || len(arn) > 512 {
			return nil, invalidArg(field+".KeyARN", "%q is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID, at most 512 characters)", truncate(arn, 256))
		}
		st.KeyARN = arn
	default:
		return nil, invalidArg(field+".KeyType", "%q is not a key type: use AWS_OWNED_CMK or CUSTOMER_MANAGED_CMK", truncate(st.KeyType, 40))
	}
	return st, nil
}

// setEncryption records a Start or Stop call: DirectPut streams only, 25
// calls per 24 hours. The setting is recorded and described; Shoal's
// records are stored as the backing log stores them either way.
func (a *api) setEncryption(ctx context.Context, name *string, enabled bool, in *encryptionInput) error {
	n, err := checkName("DeliveryStreamName", name)
	if err != nil {
		return err
	}
	var st *encryptionState
	if enabled {
		if st, err = parseEncryption("DeliveryStreamEncryptionConfigurationInput", in); err != nil {
			return err
		}
	} else {
		st = &encryptionState{Status: "DISABLED"}
	}
	now := a.m.opts.Now()
	return a.m.modify(ctx, n, false, func(cfg *streamConfig) error {
		if cfg.Type != typeDirectPut {
			return invalidArg("DeliveryStreamName", "%s is a %s delivery stream: server-side encryption is only for DirectPut", n, cfg.Type)
		}
		var calls []time.Time
		if cfg.Encryption != nil {
			for _, c := range cfg.Encryption.Calls {
				if now.Sub(c) < encryptionCallWindow {
					calls = append(calls, c)
				}
			}
		}
		if len(calls) >= maxEncryptionCalls {
			return awsproto.Errorf(errLimitExceeded, "%s had %d Start/StopDeliveryStreamEncryption calls in 24 hours, the limit", n, maxEncryptionCalls)
		}
		st.Calls = append(calls, now)
		cfg.Encryption = st
		return nil
	})
}

// startEncryption is StartDeliveryStreamEncryption.
func (a *api) startEncryption(ctx context.Context, in *startEncryptionInput) (*empty, error) {
	if err := a.setEncryption(ctx, in.DeliveryStreamName, true, in.DeliveryStreamEncryptionConfigurationInput); err != nil {
		return nil, err
	}
	return &empty{}, nil
}

// stopEncryption is StopDeliveryStreamEncryption.
func (a *api) stopEncryption(ctx context.Context, in *nameInput) (*empty, error) {
	if err := a.setEncryption(ctx, in.DeliveryStreamName, false, nil); err != nil {
		return nil, err
	}
	return &empty{}, nil
}
