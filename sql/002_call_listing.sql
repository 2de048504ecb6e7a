-- Call listings are newest first by call id (ULIDs sort by time), per app
-- and optionally per path or status: keys in that order, so that a page
-- is an index range.
ALTER TABLE calls
    ADD KEY calls_app_id (app_name, id),
    ADD KEY calls_app_path_id (app_name, path, id),
    ADD KEY calls_app_status_id (app_name, status, id);
