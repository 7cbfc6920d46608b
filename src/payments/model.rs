//! The pure rules of money: amounts, fees, the postings of each ledger
//! operation, and the lifecycle of a transaction. No I/O here.

use serde_json::Value;

/// Currencies we accept: all with two-decimal minor units.
pub const CURRENCIES: [&str; 4] = ["KES", "USD", "EUR", "GBP"];

/// The largest single amount accepted (10 million major units).
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000;

/// The largest M-Pesa transaction Safaricom allows (KES 250,000).
pub const MPESA_MAX_MINOR: i64 = 25_000_000;

/// The smallest M-Pesa withdrawal (KES 10, the B2C minimum).
pub const MPESA_MIN_WITHDRAWAL_MINOR: i64 = 1_000;

/// A payment gateway: where money comes from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gateway {
    Mpesa,
    Stripe,
    Cash,
    Wallet,
}

impl Gateway {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Gateway::Mpesa => "mpesa",
            Gateway::Stripe => "stripe",
            Gateway::Cash => "cash",
            Gateway::Wallet => "wallet",
        }
    }

    /// The wire names; `card` is Stripe.
    pub fn parse(s: &str) -> Option<Gateway> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "mpesa" | "m-pesa" => Gateway::Mpesa,
            "stripe" | "card" => Gateway::Stripe,
            "cash" => Gateway::Cash,
            "wallet" => Gateway::Wallet,
            _ => return None,
        })
    }

    /// Whether money enters from outside through this gateway (not the wallet).
    pub fn is_external(self) -> bool {
        !matches!(self, Gateway::Wallet)
    }
}

/// What a transaction is for (the subset of the wire enum we create).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxType {
    BookingPayment,
    WalletTopup,
    WalletWithdrawal,
    Refund,
}

impl TxType {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TxType::BookingPayment => "booking_payment",
            TxType::WalletTopup => "wallet_topup",
            TxType::WalletWithdrawal => "wallet_withdrawal",
            TxType::Refund => "refund",
        }
    }

    /// The type of a wire name, if we create that type.
    pub fn parse(s: &str) -> Option<TxType> {
        Some(match s {
            "booking_payment" => TxType::BookingPayment,
            "wallet_topup" => TxType::WalletTopup,
            "wallet_withdrawal" => TxType::WalletWithdrawal,
            "refund" => TxType::Refund,
            _ => return None,
        })
    }
}

/// Every `type` of the original model (accepted as a list filter).
pub const WIRE_TYPES: [&str; 9] = [
    "booking_payment",
    "technician_payout",
    "wallet_topup",
    "wallet_withdrawal",
    "refund",
    "penalty",
    "subscription",
    "tip",
    "cancellation_fee",
];

/// Every wire `status`.
pub const WIRE_STATUSES: [&str; 9] = [
    "initiated",
    "pending",
    "processing",
    "completed",
    "failed",
    "cancelled",
    "expired",
    "refunded",
    "partially_refunded",
];

// ------------------------------------------------------------------ amounts

/// Reads a major-unit amount (`5000`, `49.99`, `"120.5"`) as minor units.
/// Refuses non-numbers, negatives, zero, more than two decimals and
/// amounts above [`MAX_AMOUNT_MINOR`]; the error is the message for `amount`.
pub fn parse_amount(v: &Value) -> Result<i64, &'static str> {
    const BAD: &str = "Amount must be a positive number with at most 2 decimals";
    let text = match v {
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.to_string(),
            (None, Some(i), _) => i.to_string(),
            (_, _, Some(f)) if f.is_finite() => format!("{f}"),
            _ => return Err(BAD),
        },
        Value::String(s) => s.trim().to_string(),
        Value::Null => return Err("Valid amount is required"),
        _ => return Err(BAD),
    };
    let minor = parse_decimal_minor(&text).ok_or(BAD)?;
    if minor == 0 {
        return Err("Amount must be greater than zero");
    }
    if minor > MAX_AMOUNT_MINOR {
        return Err("Amount is too large");
    }
    Ok(minor)
}

/// `"49.99"` as minor units (see [`crate::money::parse_decimal`]).
pub fn parse_decimal_minor(text: &str) -> Option<i64> {
    crate::money::parse_decimal(text).ok()
}

/// Why a further payment of `amount` for a booking of `total` with
/// `paid` already paid or pending would charge the customer twice, or
/// `None` when it fits (all minor units). Held + pending never exceed the
/// booking's total.
pub fn overpayment(total: i64, paid: i64, amount: i64, currency: &str) -> Option<String> {
    if paid + amount <= total {
        return None;
    }
    let fmt = |m: i64| format!("{currency} {}", major(m));
    Some(if paid >= total {
        format!(
            "This booking is already paid: {} of {} paid or pending",
            fmt(paid),
            fmt(total)
        )
    } else {
        format!(
            "{} of this booking's {} is already paid or pending; at most {} remains to pay",
            fmt(paid),
            fmt(total),
            fmt(total - paid)
        )
    })
}

/// Minor units as the JSON number clients read: `500000` → `5000`, `4999` → `49.99`.
pub fn major(minor: i64) -> Value {
    if minor % 100 == 0 {
        Value::from(minor / 100)
    } else {
        // Two decimals print exactly: the shortest f64 representation of n/100.
        Value::from(minor as f64 / 100.0)
    }
}

/// A currency code from the client, upper-cased and checked against [`CURRENCIES`].
pub fn parse_currency(s: &str) -> Option<&'static str> {
    let up = s.trim().to_ascii_uppercase();
    CURRENCIES.iter().copied().find(|c| *c == up)
}

// ------------------------------------------------------------------ fees

/// The platform's cut of a released payment: a percentage (in basis
/// points, so no floats touch money) with a minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeePolicy {
    pub basis_points: i64,
    pub minimum_minor: i64,
}

impl FeePolicy {
    /// From the configured percent (e.g. 10.0) and minimum in major units.
    pub fn from_config(percent: f64, minimum_major: f64) -> FeePolicy {
        let bp = if percent.is_finite() {
            (percent * 100.0).round().clamp(0.0, 10_000.0) as i64
        } else {
            0
        };
        let min = if minimum_major.is_finite() && minimum_major > 0.0 {
            (minimum_major * 100.0).round().min(MAX_AMOUNT_MINOR as f64) as i64
        } else {
            0
        };
        FeePolicy {
            basis_points: bp,
            minimum_minor: min,
        }
    }
}

/// The fee on `amount`: the percentage rounded half up, at least the
/// minimum, never more than the amount itself.
pub fn platform_fee(amount: i64, policy: FeePolicy) -> i64 {
    if amount <= 0 {
        return 0;
    }
    let pct = (amount as i128 * policy.basis_points as i128 + 5_000) / 10_000;
    (pct as i64).max(policy.minimum_minor).min(amount)
}

// ------------------------------------------------------------------ ledger

/// A ledger account, named by what it is; the store turns it into a row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Account {
    /// A user's spendable balance. Never negative.
    Wallet(String),
    /// Money held for one booking. Never negative.
    Escrow(String),
    /// The platform's fees. Never negative.
    Revenue,
    /// The outside world through a gateway: negative when money came in.
    Clearing(Gateway),
    /// Money on its way out through a gateway, until it confirms. Never negative.
    Payout(Gateway),
}

impl Account {
    /// The account's kind, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Account::Wallet(_) => "wallet",
            Account::Escrow(_) => "escrow",
            Account::Revenue => "revenue",
            Account::Clearing(_) => "clearing",
            Account::Payout(_) => "payout",
        }
    }

    /// The user, booking or gateway the account belongs to.
    pub fn owner(&self) -> Option<&str> {
        match self {
            Account::Wallet(id) | Account::Escrow(id) => Some(id),
            Account::Revenue => None,
            Account::Clearing(g) | Account::Payout(g) => Some(g.as_str()),
        }
    }

    /// The unique key of the account in `currency`, e.g. `wallet:<user>:KES`.
    pub fn key(&self, currency: &str) -> String {
        match self.owner() {
            Some(owner) => format!("{}:{owner}:{currency}", self.kind()),
            None => format!("{}:{currency}", self.kind()),
        }
    }

    /// Whether the balance may never go below zero.
    pub fn is_non_negative(&self) -> bool {
        !matches!(self, Account::Clearing(_))
    }
}

/// One signed amount on one account (positive adds to the balance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub account: Account,
    pub amount: i64,
}

/// Every way money moves. Each becomes one balanced ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A booking payment confirmed by a gateway lands in the booking's escrow.
    HoldFromGateway {
        gateway: Gateway,
        booking_id: String,
        amount: i64,
    },
    /// A booking paid from the customer's wallet, straight into escrow.
    HoldFromWallet {
        user_id: String,
        booking_id: String,
        amount: i64,
    },
    /// A wallet top-up confirmed by a gateway.
    TopUp {
        gateway: Gateway,
        user_id: String,
        amount: i64,
    },
    /// Escrow to the technician's wallet less the platform fee. For a cash
    /// payment the technician already holds the cash: the net is credited
    /// and at once settled against the cash clearing account, so the fee is
    /// what the technician owes the platform in cash.
    Release {
        booking_id: String,
        technician_id: String,
        amount: i64,
        fee: i64,
        cash: bool,
    },
    /// Escrow back to the customer's wallet.
    RefundToWallet {
        booking_id: String,
        user_id: String,
        amount: i64,
    },
    /// Escrow on its way back through the gateway it came from.
    RefundToGateway {
        booking_id: String,
        gateway: Gateway,
        amount: i64,
    },
    /// A wallet withdrawal on its way out through a gateway.
    Withdraw {
        user_id: String,
        gateway: Gateway,
        amount: i64,
    },
    /// The gateway confirmed a payout: it left the platform.
    PayoutSettled { gateway: Gateway, amount: i64 },
    /// The gateway refused a payout: the money goes to the user's wallet.
    PayoutReturned {
        gateway: Gateway,
        user_id: String,
        amount: i64,
    },
}

impl Op {
    /// The entry kind stored with the postings.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::HoldFromGateway { .. } | Op::HoldFromWallet { .. } => "payment",
            Op::TopUp { .. } => "topup",
            Op::Release { .. } => "release",
            Op::RefundToWallet { .. } | Op::RefundToGateway { .. } => "refund",
            Op::Withdraw { .. } => "withdrawal",
            Op::PayoutSettled { .. } => "payout_settled",
            Op::PayoutReturned { .. } => "payout_returned",
        }
    }
}

fn p(account: Account, amount: i64) -> Posting {
    Posting { account, amount }
}

/// The postings of one operation. They always sum to zero; credits come
/// before debits of the same account so no balance dips below zero midway.
/// Zero-amount postings are left out.
pub fn postings(op: &Op) -> Vec<Posting> {
    let mut out = match op.clone() {
        Op::HoldFromGateway {
            gateway,
            booking_id,
            amount,
        } => vec![
            p(Account::Escrow(booking_id), amount),
            p(Account::Clearing(gateway), -amount),
        ],
        Op::HoldFromWallet {
            user_id,
            booking_id,
            amount,
        } => vec![
            p(Account::Escrow(booking_id), amount),
            p(Account::Wallet(user_id), -amount),
        ],
        Op::TopUp {
            gateway,
            user_id,
            amount,
        } => vec![
            p(Account::Wallet(user_id), amount),
            p(Account::Clearing(gateway), -amount),
        ],
        Op::Release {
            booking_id,
            technician_id,
            amount,
            fee,
            cash,
        } => {
            let fee = fee.clamp(0, amount);
            let net = amount - fee;
            let mut v = vec![
                p(Account::Wallet(technician_id.clone()), net),
                p(Account::Revenue, fee),
                p(Account::Escrow(booking_id), -amount),
            ];
            if cash {
                v.push(p(Account::Clearing(Gateway::Cash), net));
                v.push(p(Account::Wallet(technician_id), -net));
            }
            v
        }
        Op::RefundToWallet {
            booking_id,
            user_id,
            amount,
        } => vec![
            p(Account::Wallet(user_id), amount),
            p(Account::Escrow(booking_id), -amount),
        ],
        Op::RefundToGateway {
            booking_id,
            gateway,
            amount,
        } => vec![
            p(Account::Payout(gateway), amount),
            p(Account::Escrow(booking_id), -amount),
        ],
        Op::Withdraw {
            user_id,
            gateway,
            amount,
        } => vec![
            p(Account::Payout(gateway), amount),
            p(Account::Wallet(user_id), -amount),
        ],
        Op::PayoutSettled { gateway, amount } => vec![
            p(Account::Clearing(gateway), amount),
            p(Account::Payout(gateway), -amount),
        ],
        Op::PayoutReturned {
            gateway,
            user_id,
            amount,
        } => vec![
            p(Account::Wallet(user_id), amount),
            p(Account::Payout(gateway), -amount),
        ],
    };
    out.retain(|p| p.amount != 0);
    out
}

// ------------------------------------------------------------------ lifecycle

/// Where a transaction is in its life (stored as `stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Created; waiting for the gateway (or, for cash, the customer).
    Pending,
    /// The gateway accepted the request; waiting for its confirmation.
    Processing,
    /// A booking payment sitting in escrow (possibly partly refunded).
    Held,
    /// Escrow released to the technician.
    Released,
    /// Escrow fully refunded.
    Refunded,
    /// A top-up, withdrawal or refund that is done.
    Settled,
    /// Failed, cancelled or expired; no money moved.
    Failed,
}

impl Stage {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Pending => "pending",
            Stage::Processing => "processing",
            Stage::Held => "held",
            Stage::Released => "released",
            Stage::Refunded => "refunded",
            Stage::Settled => "settled",
            Stage::Failed => "failed",
        }
    }

    /// The stage of a stored name.
    pub fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "pending" => Stage::Pending,
            "processing" => Stage::Processing,
            "held" => Stage::Held,
            "released" => Stage::Released,
            "refunded" => Stage::Refunded,
            "settled" => Stage::Settled,
            "failed" => Stage::Failed,
            _ => return None,
        })
    }

    /// Whether the money is (still) in escrow.
    pub fn is_held(self) -> bool {
        matches!(self, Stage::Held)
    }
}

/// The wire `status` of a stage. `failure` is the stored failed status
/// (`failed`, `cancelled` or `expired`); `refunded` is what was refunded so far.
pub fn wire_status(stage: Stage, refunded: i64, failure: Option<&str>) -> &'static str {
    match stage {
        Stage::Pending => "pending",
        Stage::Processing => "processing",
        Stage::Held | Stage::Released if refunded > 0 => "partially_refunded",
        Stage::Held | Stage::Released | Stage::Settled => "completed",
        Stage::Refunded => "refunded",
        Stage::Failed => match failure {
            Some("cancelled") => "cancelled",
            Some("expired") => "expired",
            _ => "failed",
        },
    }
}

/// Why a transition is refused; each carries the message clients read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The same change already happened (replays end here, changing nothing).
    AlreadyDone(&'static str),
    /// The change does not apply in this state.
    NotAllowed(&'static str),
}

impl Refusal {
    /// The message clients read.
    pub fn message(&self) -> &'static str {
        match self {
            Refusal::AlreadyDone(m) | Refusal::NotAllowed(m) => m,
        }
    }
}

/// A change asked of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The gateway accepted our request (STK push sent, intent created, payout queued).
    GatewayAccepted,
    /// The payment is verified as received (callback, webhook, cash confirmation).
    Confirmed,
    /// The gateway reported a failure.
    Failed,
    /// Release escrow to the technician.
    Release,
    /// Refund `amount` out of `held` (what is still in escrow).
    Refund { amount: i64, held: i64 },
    /// A payout (withdrawal, gateway refund) was confirmed or refused.
    PayoutDone,
}

/// The stage after `action`, or why not. Pure: the store applies it with a
/// compare-and-set on the current stage, so racing requests see exactly one winner.
pub fn transition(kind: TxType, stage: Stage, action: Action) -> Result<Stage, Refusal> {
    use Refusal::*;
    use Stage::*;
    match action {
        Action::GatewayAccepted => match stage {
            Pending => Ok(Processing),
            _ => Err(AlreadyDone("The gateway request was already accepted")),
        },
        Action::Confirmed => match (kind, stage) {
            (TxType::BookingPayment, Pending | Processing | Failed) => Ok(Held),
            (TxType::WalletTopup, Pending | Processing | Failed) => Ok(Settled),
            (TxType::BookingPayment | TxType::WalletTopup, _) => {
                Err(AlreadyDone("Payment already confirmed"))
            }
            _ => Err(NotAllowed("This transaction is not a payment")),
        },
        Action::Failed => match stage {
            Pending | Processing => Ok(Failed),
            Failed => Err(AlreadyDone("Transaction already failed")),
            _ => Err(NotAllowed("Transaction is no longer pending")),
        },
        Action::Release => match (kind, stage) {
            (TxType::BookingPayment, Held) => Ok(Released),
            (TxType::BookingPayment, Released) => Err(AlreadyDone("Escrow already released")),
            (TxType::BookingPayment, Refunded) => Err(NotAllowed("Escrow already refunded")),
            (TxType::BookingPayment, _) => Err(NotAllowed("Payment is not held in escrow")),
            _ => Err(NotAllowed("This transaction does not use escrow")),
        },
        Action::Refund { amount, held } => match (kind, stage) {
            (TxType::BookingPayment, Held) if amount <= 0 || amount > held => {
                Err(NotAllowed("Refund amount exceeds transaction amount"))
            }
            (TxType::BookingPayment, Held) if amount == held => Ok(Refunded),
            (TxType::BookingPayment, Held) => Ok(Held),
            (TxType::BookingPayment, Refunded) => {
                Err(AlreadyDone("Transaction already fully refunded"))
            }
            (TxType::BookingPayment, Released) => Err(NotAllowed(
                "Escrow already released; refunds are made from escrow",
            )),
            _ => Err(NotAllowed("Can only refund completed transactions")),
        },
        Action::PayoutDone => match (kind, stage) {
            (TxType::WalletWithdrawal | TxType::Refund, Pending | Processing) => Ok(Settled),
            (TxType::WalletWithdrawal | TxType::Refund, _) => {
                Err(AlreadyDone("Payout already settled"))
            }
            _ => Err(NotAllowed("This transaction is not a payout")),
        },
    }
}

/// What a Daraja `ResultCode` of a failed STK push means on the wire.
pub fn mpesa_failure_status(result_code: i64) -> &'static str {
    match result_code {
        1032 => "cancelled",
        1037 | 1019 => "expired",
        _ => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_in_major_units_become_exact_minor_units() {
        assert_eq!(parse_amount(&json!(5000)), Ok(500_000));
        assert_eq!(parse_amount(&json!(49.99)), Ok(4_999));
        assert_eq!(parse_amount(&json!(0.1)), Ok(10));
        assert_eq!(parse_amount(&json!("120.5")), Ok(12_050));
        assert_eq!(parse_amount(&json!(1e3)), Ok(100_000));
        assert_eq!(parse_amount(&json!(0.07)), Ok(7));
        for bad in [
            json!(-1),
            json!(0),
            json!(0.001),
            json!(1.234),
            json!("abc"),
            json!("1."),
            json!(".5e1"),
            json!(true),
            json!([1]),
            json!(1e12),
            json!("-5"),
            json!(""),
        ] {
            assert!(parse_amount(&bad).is_err(), "{bad} accepted");
        }
        assert_eq!(parse_amount(&json!(".5")), Ok(50));
    }

    #[test]
    fn a_booking_is_never_paid_twice() {
        let cases = [
            (100_000, 0, 100_000, None),
            (100_000, 40_000, 60_000, None),
            (100_000, 100_000, 100_000, Some("This booking is already paid: KES 1000 of KES 1000 paid or pending")),
            (100_000, 40_000, 70_000, Some("KES 400 of this booking's KES 1000 is already paid or pending; at most KES 600 remains to pay")),
        ];
        for (total, paid, amount, want) in cases {
            assert_eq!(overpayment(total, paid, amount, "KES").as_deref(), want);
        }
    }

    #[test]
    fn major_units_print_like_the_client_wrote_them() {
        assert_eq!(major(500_000).to_string(), "5000");
        assert_eq!(major(4_999).to_string(), "49.99");
        assert_eq!(major(10).to_string(), "0.1");
        assert_eq!(major(1).to_string(), "0.01");
    }

    #[test]
    fn fee_is_a_rounded_percentage_with_a_minimum_never_above_the_amount() {
        let ten = FeePolicy::from_config(10.0, 0.0);
        assert_eq!(ten.basis_points, 1000);
        assert_eq!(platform_fee(500_000, ten), 50_000);
        assert_eq!(platform_fee(5, ten), 1); // 0.5 rounds up
        assert_eq!(platform_fee(4, ten), 0);
        let with_min = FeePolicy::from_config(10.0, 50.0);
        assert_eq!(platform_fee(10_000, with_min), 5_000);
        assert_eq!(platform_fee(1_000, with_min), 1_000, "capped at the amount");
        let odd = FeePolicy::from_config(2.5, 0.0);
        assert_eq!(platform_fee(9_999, odd), 250);
        assert_eq!(platform_fee(MAX_AMOUNT_MINOR, odd), 25_000_000);
        assert_eq!(FeePolicy::from_config(f64::NAN, -3.0).basis_points, 0);
    }

    fn all_ops() -> Vec<Op> {
        let b = "b1".to_string();
        let u = "u1".to_string();
        vec![
            Op::HoldFromGateway {
                gateway: Gateway::Mpesa,
                booking_id: b.clone(),
                amount: 700,
            },
            Op::HoldFromWallet {
                user_id: u.clone(),
                booking_id: b.clone(),
                amount: 700,
            },
            Op::TopUp {
                gateway: Gateway::Stripe,
                user_id: u.clone(),
                amount: 300,
            },
            Op::Release {
                booking_id: b.clone(),
                technician_id: "t1".into(),
                amount: 1000,
                fee: 100,
                cash: false,
            },
            Op::Release {
                booking_id: b.clone(),
                technician_id: "t1".into(),
                amount: 1000,
                fee: 100,
                cash: true,
            },
            Op::Release {
                booking_id: b.clone(),
                technician_id: "t1".into(),
                amount: 1000,
                fee: 0,
                cash: false,
            },
            Op::RefundToWallet {
                booking_id: b.clone(),
                user_id: u.clone(),
                amount: 5,
            },
            Op::RefundToGateway {
                booking_id: b,
                gateway: Gateway::Stripe,
                amount: 5,
            },
            Op::Withdraw {
                user_id: u.clone(),
                gateway: Gateway::Mpesa,
                amount: 10,
            },
            Op::PayoutSettled {
                gateway: Gateway::Mpesa,
                amount: 10,
            },
            Op::PayoutReturned {
                gateway: Gateway::Mpesa,
                user_id: u,
                amount: 10,
            },
        ]
    }

    #[test]
    fn every_operation_balances_and_has_no_zero_postings() {
        for op in all_ops() {
            let ps = postings(&op);
            assert!(ps.len() >= 2, "{op:?}");
            assert_eq!(ps.iter().map(|p| p.amount).sum::<i64>(), 0, "{op:?}");
            assert!(ps.iter().all(|p| p.amount != 0), "{op:?}");
        }
    }

    #[test]
    fn release_pays_the_technician_net_and_the_platform_its_fee() {
        let ps = postings(&Op::Release {
            booking_id: "b".into(),
            technician_id: "t".into(),
            amount: 10_000,
            fee: 1_000,
            cash: false,
        });
        assert_eq!(
            ps,
            vec![
                p(Account::Wallet("t".into()), 9_000),
                p(Account::Revenue, 1_000),
                p(Account::Escrow("b".into()), -10_000),
            ]
        );
    }

    #[test]
    fn cash_release_leaves_the_fee_owed_in_the_cash_clearing_account() {
        let ps = postings(&Op::Release {
            booking_id: "b".into(),
            technician_id: "t".into(),
            amount: 10_000,
            fee: 1_000,
            cash: true,
        });
        let on = |a: &Account| {
            ps.iter()
                .filter(|p| &p.account == a)
                .map(|p| p.amount)
                .sum::<i64>()
        };
        assert_eq!(on(&Account::Wallet("t".into())), 0, "cash already in hand");
        assert_eq!(on(&Account::Clearing(Gateway::Cash)), 9_000);
        assert_eq!(on(&Account::Revenue), 1_000);
        // The credit comes before the debit of the same wallet.
        let first = ps
            .iter()
            .position(|p| p.account == Account::Wallet("t".into()))
            .unwrap();
        assert!(ps[first].amount > 0);
    }

    #[test]
    fn account_keys_are_per_owner_and_currency() {
        assert_eq!(Account::Wallet("u".into()).key("KES"), "wallet:u:KES");
        assert_eq!(Account::Revenue.key("USD"), "revenue:USD");
        assert_eq!(
            Account::Clearing(Gateway::Mpesa).key("KES"),
            "clearing:mpesa:KES"
        );
        assert!(!Account::Clearing(Gateway::Cash).is_non_negative());
        assert!(Account::Payout(Gateway::Stripe).is_non_negative());
    }

    #[test]
    fn payment_lifecycle() {
        use Stage::*;
        let bp = TxType::BookingPayment;
        assert_eq!(
            transition(bp, Pending, Action::GatewayAccepted),
            Ok(Processing)
        );
        assert_eq!(transition(bp, Processing, Action::Confirmed), Ok(Held));
        assert_eq!(
            transition(bp, Failed, Action::Confirmed),
            Ok(Held),
            "money received after a reported failure is kept"
        );
        assert!(matches!(
            transition(bp, Held, Action::Confirmed),
            Err(Refusal::AlreadyDone(_))
        ));
        assert_eq!(transition(bp, Processing, Action::Failed), Ok(Failed));
        assert!(
            transition(bp, Held, Action::Failed).is_err(),
            "a late failure never undoes a payment"
        );
        assert_eq!(transition(bp, Held, Action::Release), Ok(Released));
        assert_eq!(
            transition(bp, Released, Action::Release),
            Err(Refusal::AlreadyDone("Escrow already released"))
        );
        assert!(transition(bp, Processing, Action::Release).is_err());
        assert_eq!(
            transition(
                bp,
                Held,
                Action::Refund {
                    amount: 10,
                    held: 10
                }
            ),
            Ok(Refunded)
        );
        assert_eq!(
            transition(
                bp,
                Held,
                Action::Refund {
                    amount: 4,
                    held: 10
                }
            ),
            Ok(Held)
        );
        assert!(transition(
            bp,
            Held,
            Action::Refund {
                amount: 11,
                held: 10
            }
        )
        .is_err());
        assert!(transition(bp, Refunded, Action::Refund { amount: 1, held: 0 }).is_err());
        assert!(transition(bp, Released, Action::Refund { amount: 1, held: 0 }).is_err());
        assert_eq!(
            transition(TxType::WalletTopup, Processing, Action::Release),
            Err(Refusal::NotAllowed("This transaction does not use escrow"))
        );
        assert_eq!(
            transition(TxType::WalletTopup, Processing, Action::Confirmed),
            Ok(Settled)
        );
        assert_eq!(
            transition(TxType::WalletWithdrawal, Processing, Action::PayoutDone),
            Ok(Settled)
        );
        assert!(transition(TxType::WalletWithdrawal, Settled, Action::PayoutDone).is_err());
    }

    #[test]
    fn wire_status_follows_stage_and_refunds() {
        assert_eq!(wire_status(Stage::Held, 0, None), "completed");
        assert_eq!(wire_status(Stage::Held, 5, None), "partially_refunded");
        assert_eq!(wire_status(Stage::Released, 5, None), "partially_refunded");
        assert_eq!(wire_status(Stage::Refunded, 10, None), "refunded");
        assert_eq!(
            wire_status(Stage::Failed, 0, Some("cancelled")),
            "cancelled"
        );
        assert_eq!(wire_status(Stage::Failed, 0, None), "failed");
        assert_eq!(wire_status(Stage::Settled, 0, None), "completed");
        assert_eq!(mpesa_failure_status(1032), "cancelled");
        assert_eq!(mpesa_failure_status(1), "failed");
    }
}
