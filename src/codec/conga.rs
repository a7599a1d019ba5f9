//! Conga order application messages (NewOrderSingle, OrderCancelRequest, ExecutionReport, OrderCancelReject): placeholder.
