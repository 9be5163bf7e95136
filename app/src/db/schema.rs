//! Diesel table definitions, written to match `migrations/{sqlite,postgres}` (both dialects share them).

diesel::table! {
    instances (id) {
        id -> BigInt,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    clients (id) {
        id -> BigInt,
        instance_id -> BigInt,
        name -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        instance_id -> BigInt,
        client_id -> Nullable<BigInt>,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamp,
        must_change_password -> Bool,
        password_version -> BigInt,
    }
}

diesel::table! {
    user_permissions (user_id, permission) {
        user_id -> BigInt,
        permission -> Text,
        granted_by -> Nullable<BigInt>,
        granted_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        instance_id -> BigInt,
        actor_user_id -> Nullable<BigInt>,
        action -> Text,
        subject -> Text,
        detail -> Text,
        created_at -> Timestamp,
        campaign_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        instance_id -> BigInt,
        kind -> Text,
        supplier_id -> Nullable<BigInt>,
        user_id -> Nullable<BigInt>,
        prefix -> Text,
        secret_hash -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        name -> Nullable<Text>,
    }
}

diesel::table! {
    supplier_campaigns (supplier_id, campaign_id) {
        supplier_id -> BigInt,
        campaign_id -> BigInt,
    }
}

diesel::table! {
    suppliers (id) {
        id -> BigInt,
        instance_id -> BigInt,
        name -> Text,
    }
}

diesel::table! {
    campaigns (id) {
        id -> BigInt,
        instance_id -> BigInt,
        client_id -> BigInt,
        name -> Text,
        max_rejection_days -> Nullable<Integer>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    campaign_fields (id) {
        id -> BigInt,
        campaign_id -> BigInt,
        field_key -> Text,
        label -> Text,
        kind -> Text,
        dedupe -> Bool,
        position -> Integer,
    }
}

diesel::table! {
    caps (id) {
        id -> BigInt,
        campaign_id -> BigInt,
        supplier_id -> Nullable<BigInt>,
        period -> Text,
        cap_limit -> BigInt,
    }
}

diesel::table! {
    cap_usage (cap_id, period_start) {
        cap_id -> BigInt,
        period_start -> Date,
        used -> BigInt,
    }
}

diesel::table! {
    leads (id) {
        id -> BigInt,
        instance_id -> BigInt,
        campaign_id -> BigInt,
        supplier_id -> BigInt,
        uid -> Text,
        received_at -> Timestamp,
        status -> Text,
        status_reason -> Nullable<Text>,
        cap_released -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    lead_values (lead_id, field_id) {
        lead_id -> BigInt,
        field_id -> BigInt,
        value -> Text,
        normalized -> Text,
    }
}

diesel::table! {
    affiliate_events (id) {
        id -> BigInt,
        lead_id -> BigInt,
        kind -> Text,
        name -> Text,
        cost_pence -> BigInt,
        revenue_pence -> BigInt,
        status -> Text,
        occurred_at -> Timestamp,
        rejected_by_task -> Nullable<BigInt>,
    }
}

diesel::table! {
    uploads (id) {
        id -> BigInt,
        instance_id -> BigInt,
        user_id -> BigInt,
        original_name -> Text,
        storage_key -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        created_at -> Timestamp,
        stored -> Bool,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    upload_parts (upload_id, part) {
        upload_id -> BigInt,
        part -> BigInt,
        data -> Binary,
    }
}

diesel::table! {
    rejection_tasks (id) {
        id -> BigInt,
        instance_id -> BigInt,
        campaign_id -> BigInt,
        user_id -> BigInt,
        upload_id -> BigInt,
        request_key -> Nullable<Text>,
        identifier_mode -> Text,
        identifier_field_id -> Nullable<BigInt>,
        identifier_column -> Text,
        reason_column -> Text,
        reject_from -> Nullable<Date>,
        move_outside_to_accepted -> Bool,
        reject_affiliate_events -> Bool,
        move_remaining_to_accepted -> Bool,
        count_towards_cap -> Bool,
        status -> Text,
        failure_reason -> Nullable<Text>,
        rows_total -> Nullable<BigInt>,
        rows_done -> BigInt,
        remaining_accepted -> BigInt,
        claimed_by -> Nullable<Text>,
        heartbeat_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        phase -> Text,
        remaining_cursor -> BigInt,
        delimiter -> Text,
        outcome_counts -> Text,
        cap_units_released -> BigInt,
        changed_rows -> Text,
        undo_of -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// One batch's per-row outcomes, as results-CSV records sorted by row number.
    rejection_task_chunks (task_id, chunk) {
        task_id -> BigInt,
        chunk -> BigInt,
        body -> Text,
    }
}

diesel::table! {
    /// The results CSV (without its header) in file order, in parts cut between records.
    rejection_task_results (task_id, part) {
        task_id -> BigInt,
        part -> BigInt,
        body -> Text,
        packed -> Nullable<Binary>,
    }
}

diesel::table! {
    /// Identical failures in a row of a job (`job`: rejection_task or lead_import) and its last
    /// error; a job reaching the limit is failed (engine/lease.rs).
    job_failures (job, job_id) {
        job -> Text,
        job_id -> BigInt,
        failures -> Integer,
        last_error -> Text,
    }
}

diesel::table! {
    lead_imports (id) {
        id -> BigInt,
        instance_id -> BigInt,
        campaign_id -> BigInt,
        supplier_id -> BigInt,
        user_id -> BigInt,
        upload_id -> BigInt,
        field_columns -> Text,
        received_at_column -> Nullable<BigInt>,
        status_column -> Nullable<BigInt>,
        reason_column -> Nullable<BigInt>,
        apply_caps -> Bool,
        delimiter -> Text,
        status -> Text,
        failure_reason -> Nullable<Text>,
        rows_total -> Nullable<BigInt>,
        rows_done -> BigInt,
        leads_created -> BigInt,
        rows_refused -> BigInt,
        cursor_offset -> BigInt,
        cursor_line -> BigInt,
        chunks -> BigInt,
        claimed_by -> Nullable<Text>,
        heartbeat_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// One batch's results-CSV records of a lead import, in file order.
    lead_import_chunks (import_id, chunk) {
        import_id -> BigInt,
        chunk -> BigInt,
        body -> Text,
        packed -> Nullable<Binary>,
    }
}

diesel::table! {
    lead_status_history (id) {
        id -> BigInt,
        lead_id -> BigInt,
        from_status -> Nullable<Text>,
        to_status -> Text,
        reason -> Nullable<Text>,
        source -> Text,
        actor_user_id -> Nullable<BigInt>,
        task_id -> Nullable<BigInt>,
        changed_at -> Timestamp,
        from_reason -> Nullable<Text>,
        released_cap -> Bool,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        data -> Binary,
        expiry_date -> Timestamp,
    }
}

diesel::table! {
    login_failures (id) {
        id -> BigInt,
        email -> Text,
        ip -> Text,
        failed_at -> Timestamp,
    }
}

diesel::table! {
    preview_jobs (id) {
        id -> BigInt,
        user_id -> BigInt,
        kind -> Text,
        request -> Text,
        status -> Text,
        rows_read -> BigInt,
        rows_total -> Nullable<BigInt>,
        result -> Nullable<Text>,
        error -> Nullable<Text>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        claimed_by -> Nullable<Text>,
        heartbeat_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> BigInt,
        instance_id -> BigInt,
        url -> Text,
        description -> Text,
        statuses -> Text,
        campaign_ids -> Text,
        supplier_ids -> Text,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> BigInt,
        endpoint_id -> BigInt,
        history_id -> BigInt,
        lead_id -> BigInt,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_by -> Nullable<Text>,
        last_status_code -> Nullable<Integer>,
        last_latency_ms -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> BigInt,
        event_id -> BigInt,
        attempted_at -> Timestamp,
        status_code -> Nullable<Integer>,
        latency_ms -> Integer,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    /// The first task id an undo may undo (tasks queued before migration 17 did not record
    /// what an undo restores).
    undo_horizon (first_task_id) {
        first_task_id -> BigInt,
    }
}

diesel::joinable!(clients -> instances (instance_id));
diesel::joinable!(users -> instances (instance_id));
diesel::joinable!(users -> clients (client_id));
diesel::joinable!(user_permissions -> users (user_id));
diesel::joinable!(suppliers -> instances (instance_id));
diesel::joinable!(supplier_campaigns -> suppliers (supplier_id));
diesel::joinable!(api_keys -> suppliers (supplier_id));
diesel::joinable!(supplier_campaigns -> campaigns (campaign_id));
diesel::joinable!(audit_log -> campaigns (campaign_id));
diesel::joinable!(campaigns -> clients (client_id));
diesel::joinable!(campaign_fields -> campaigns (campaign_id));
diesel::joinable!(caps -> campaigns (campaign_id));
diesel::joinable!(cap_usage -> caps (cap_id));
diesel::joinable!(leads -> campaigns (campaign_id));
diesel::joinable!(leads -> suppliers (supplier_id));
diesel::joinable!(lead_values -> leads (lead_id));
diesel::joinable!(lead_values -> campaign_fields (field_id));
diesel::joinable!(affiliate_events -> leads (lead_id));
diesel::joinable!(lead_status_history -> leads (lead_id));
diesel::joinable!(rejection_task_chunks -> rejection_tasks (task_id));
diesel::joinable!(rejection_task_results -> rejection_tasks (task_id));
diesel::joinable!(rejection_tasks -> campaigns (campaign_id));
diesel::joinable!(rejection_tasks -> uploads (upload_id));
diesel::joinable!(upload_parts -> uploads (upload_id));
diesel::joinable!(lead_imports -> campaigns (campaign_id));
diesel::joinable!(lead_imports -> suppliers (supplier_id));
diesel::joinable!(lead_imports -> users (user_id));
diesel::joinable!(lead_imports -> uploads (upload_id));
diesel::joinable!(lead_import_chunks -> lead_imports (import_id));
diesel::joinable!(preview_jobs -> users (user_id));
diesel::joinable!(webhook_events -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_events -> lead_status_history (history_id));
diesel::joinable!(webhook_events -> leads (lead_id));
diesel::joinable!(webhook_attempts -> webhook_events (event_id));

diesel::allow_tables_to_appear_in_same_query!(
    instances,
    clients,
    users,
    user_permissions,
    audit_log,
    supplier_campaigns,
    api_keys,
    suppliers,
    campaigns,
    campaign_fields,
    caps,
    cap_usage,
    leads,
    lead_values,
    affiliate_events,
    uploads,
    upload_parts,
    rejection_tasks,
    rejection_task_chunks,
    rejection_task_results,
    lead_imports,
    job_failures,
    lead_import_chunks,
    preview_jobs,
    lead_status_history,
    sessions,
    login_failures,
    webhook_endpoints,
    webhook_events,
    webhook_attempts,
);
