//! Response shapes of the payments routes, for the OpenAPI document. The
//! handlers build the same keys (see `document.rs`).

#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

/// Transaction status on the wire.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    Initiated,
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
    Expired,
    Refunded,
    PartiallyRefunded,
}

/// How a transaction was paid.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Mpesa,
    Card,
    Stripe,
    Wallet,
    Cash,
    BankTransfer,
}

/// What a transaction is for.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransactionType {
    BookingPayment,
    TechnicianPayout,
    WalletTopup,
    WalletWithdrawal,
    Refund,
    Penalty,
    Subscription,
    Tip,
    CancellationFee,
}

/// A populated payer or payee.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub full_name: String,
    pub email: String,
    /// On a single transaction only.
    pub phone_number: Option<String>,
}

/// The booking a payment is for.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingRef {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub booking_number: String,
    pub service_type: String,
    pub status: String,
}

/// Amounts in major units.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Amount {
    pub gross: f64,
    pub platform_fee: f64,
    pub processing_fee: f64,
    pub tax: f64,
    pub net: f64,
    pub currency: String,
}

/// M-Pesa references: STK checkout ids, B2C conversation, receipt.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MpesaDetails {
    pub merchant_request_id: Option<String>,
    pub checkout_request_id: Option<String>,
    /// B2C payouts.
    pub conversation_id: Option<String>,
    pub mpesa_receipt_number: Option<String>,
    pub phone_number: Option<String>,
    pub transaction_date: Option<String>,
    pub result_code: Option<String>,
    pub result_description: Option<String>,
}

/// Stripe references of the payment or refund.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StripeDetails {
    pub payment_intent_id: Option<String>,
    pub charge_id: Option<String>,
    pub refund_id: Option<String>,
    /// To the payer, while the payment awaits confirmation.
    pub client_secret: Option<String>,
}

/// Refund status.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

/// What was refunded from this payment (total so far, latest refund).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    /// Total refunded so far.
    pub amount: f64,
    pub reason: Option<String>,
    pub refunded_at: Option<String>,
    pub refunded_by: Option<String>,
    pub status: Option<RefundStatus>,
    /// The latest refund transaction.
    pub transaction_id: Option<String>,
}

/// Whether a verified gateway webhook confirmed this transaction.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookData {
    pub received: bool,
    pub received_at: Option<String>,
    pub verified: bool,
}

/// The escrow lifecycle: held, then released (or refunded).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Escrow {
    pub held: bool,
    pub held_at: Option<String>,
    pub released_at: Option<String>,
    /// `admin`, `auto_release` or `dispute_resolved`.
    pub release_condition: Option<String>,
}

/// A Transaction document.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub transaction_number: String,
    pub external_transaction_id: Option<String>,
    pub payer: Party,
    pub payee: Option<Party>,
    pub booking: Option<BookingRef>,
    /// The payment a refund was made from.
    pub parent_transaction: Option<String>,
    #[serde(rename = "type")]
    pub kind: TransactionType,
    pub amount: Amount,
    pub payment_method: PaymentMethod,
    pub status: TransactionStatus,
    pub mpesa_details: Option<MpesaDetails>,
    pub stripe_details: Option<StripeDetails>,
    pub initiated_at: String,
    pub processed_at: Option<String>,
    pub completed_at: Option<String>,
    pub failed_at: Option<String>,
    pub failure_reason: Option<String>,
    pub failure_code: Option<String>,
    pub refund: Option<Refund>,
    pub description: Option<String>,
    pub notes: Option<String>,
    pub webhook_data: WebhookData,
    #[schema(value_type = Object)]
    pub settlement: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub splits: Vec<serde_json::Value>,
    pub escrow: Escrow,
    #[schema(value_type = Object)]
    pub receipt: serde_json::Value,
    #[schema(value_type = Object)]
    pub invoice: serde_json::Value,
    #[schema(value_type = Object)]
    pub reconciliation: serde_json::Value,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    #[schema(value_type = Object)]
    pub fraud_check: serde_json::Value,
    pub is_pending: bool,
    pub is_successful: bool,
    pub is_failed: bool,
    /// Seconds from initiation to completion.
    pub processing_time: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(rename = "__v")]
    pub version: i64,
}

/// `{success, message, transaction}`.
#[derive(Serialize, ToSchema)]
pub struct TransactionResponse {
    pub success: bool,
    pub message: Option<String>,
    pub transaction: Transaction,
}

/// `POST /transactions`: the transaction plus what the client needs to
/// finish paying (M-Pesa checkout ids, Stripe client secret).
#[derive(Serialize, ToSchema)]
pub struct CreatedTransaction {
    pub success: bool,
    pub message: String,
    pub transaction: Transaction,
    #[serde(rename = "checkoutRequestID")]
    pub checkout_request_id: Option<String>,
    #[serde(rename = "merchantRequestID")]
    pub merchant_request_id: Option<String>,
    #[serde(rename = "clientSecret")]
    pub client_secret: Option<String>,
    #[serde(rename = "paymentIntentId")]
    pub payment_intent_id: Option<String>,
}

/// `POST /transactions/:id/refund`: the payment and the refund made from it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundResponse {
    pub success: bool,
    pub message: String,
    pub transaction: Transaction,
    pub refund_transaction: Transaction,
}

/// `{success, count, total, page, pages, limit, transactions}`.
#[derive(Serialize, ToSchema)]
pub struct TransactionList {
    pub success: bool,
    pub count: i64,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub limit: i64,
    pub transactions: Vec<Transaction>,
}

/// Count and gross per status.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentStatusStat {
    #[serde(rename = "_id")]
    pub status: TransactionStatus,
    pub count: i64,
    pub total_amount: f64,
}

/// Whose figures these are.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatsScope {
    Own,
    Platform,
}

/// `GET /transactions/stats`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionStats {
    pub success: bool,
    pub scope: StatsScope,
    pub currency: String,
    pub total: i64,
    pub total_revenue: f64,
    /// Paid into escrow, less refunds.
    pub spent: f64,
    /// Released to technicians, net of fees.
    pub earned: f64,
    /// Still in escrow.
    pub held: f64,
    /// Platform fees on released payments.
    pub fees: f64,
    pub stats: Vec<PaymentStatusStat>,
}

/// Credit or debit.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Credit,
    Debit,
}

/// One posting on the wallet.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalletPosting {
    pub id: String,
    /// Signed, in major units.
    pub amount: f64,
    pub direction: Direction,
    /// `payment`, `topup`, `release`, `refund`, `withdrawal`, `payout_returned`...
    pub kind: String,
    pub transaction: Option<String>,
    pub entry: String,
    pub currency: String,
    pub created_at: String,
}

/// A wallet: balance and one page of its postings.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Wallet {
    pub balance: f64,
    pub currency: String,
    /// Newest first.
    pub postings: Vec<WalletPosting>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
}

/// `GET /wallet`.
#[derive(Serialize, ToSchema)]
pub struct WalletResponse {
    pub success: bool,
    pub wallet: Wallet,
}

/// What a webhook is answered.
#[derive(Serialize, ToSchema)]
pub struct WebhookAck {
    pub success: bool,
    pub message: String,
    pub received: bool,
    /// This event was received before; nothing changed.
    pub duplicate: bool,
}

/// What Daraja is answered (plus our envelope's keys).
#[derive(Serialize, ToSchema)]
pub struct MpesaAck {
    #[serde(rename = "ResultCode")]
    pub result_code: i64,
    #[serde(rename = "ResultDesc")]
    pub result_desc: String,
    pub success: bool,
    pub message: String,
}
