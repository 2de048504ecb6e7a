-- The initial schema: apps, routes, calls, call logs, and the change
-- counter that nginx instances poll to keep their route caches fresh.
--
-- Names are compared byte for byte (utf8mb4_bin): "App" and "app" are two
-- apps, as they are two URLs.  Allowed values (formats, types, limits) are
-- checked by the API, in one place; the schema stores what it is given.

CREATE TABLE apps (
    name        VARCHAR(30)  NOT NULL,
    config      JSON         NOT NULL DEFAULT '{}',
    created_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                             ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Every route field of the API is a column, jwt_key included.
CREATE TABLE routes (
    app_name         VARCHAR(30)   NOT NULL,
    path             VARCHAR(255)  NOT NULL,
    image            VARCHAR(1024) NOT NULL,
    memory           INT UNSIGNED  NOT NULL DEFAULT 128,
    type             VARCHAR(16)   NOT NULL DEFAULT 'sync',
    format           VARCHAR(16)   NOT NULL DEFAULT 'default',
    timeout          INT UNSIGNED  NOT NULL DEFAULT 30,
    idle_timeout     INT UNSIGNED  NOT NULL DEFAULT 30,
    max_concurrency  INT UNSIGNED  NOT NULL DEFAULT 1,
    headers          JSON          NOT NULL DEFAULT '{}',
    config           JSON          NOT NULL DEFAULT '{}',
    jwt_key          VARCHAR(1024) NOT NULL DEFAULT '',
    created_at       DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                                   ON UPDATE CURRENT_TIMESTAMP(6),
    -- the route lookup of every uncached call is this key
    PRIMARY KEY (app_name, path),
    KEY routes_image (app_name, image(191)),
    CONSTRAINT routes_app FOREIGN KEY (app_name) REFERENCES apps (name)
        ON DELETE RESTRICT ON UPDATE RESTRICT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per call id.  Calls outlive their routes, so there is no foreign
-- key: history stays readable after a route or app is deleted.
CREATE TABLE calls (
    id            CHAR(26)      CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    app_name      VARCHAR(30)   NOT NULL,
    path          VARCHAR(255)  NOT NULL,
    status        VARCHAR(16)   NOT NULL,
    reason        VARCHAR(64)   NULL,
    error         TEXT          NULL,
    attempt       INT UNSIGNED  NOT NULL DEFAULT 1,
    created_at    DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    started_at    DATETIME(6)   NULL,
    completed_at  DATETIME(6)   NULL,
    PRIMARY KEY (id),
    -- listings are per app, newest first, filtered by path or status
    KEY calls_app_created (app_name, created_at, id),
    KEY calls_app_path_created (app_name, path, created_at, id),
    KEY calls_app_status_created (app_name, status, created_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE call_logs (
    call_id     CHAR(26)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    app_name    VARCHAR(30)  NOT NULL,
    log         MEDIUMTEXT   NOT NULL,
    created_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (call_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The change counter.  Every API write bumps it in the same transaction
-- and records what it changed in route_changes, so an nginx instance polls
-- one row and drops only the cache entries that changed since it last
-- looked.
CREATE TABLE generation (
    id          TINYINT UNSIGNED  NOT NULL,
    value       BIGINT UNSIGNED   NOT NULL,
    updated_at  DATETIME(6)       NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                                  ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    CONSTRAINT generation_one_row CHECK (id = 1)
) ENGINE=InnoDB;

INSERT INTO generation (id, value) VALUES (1, 0);

-- One row per generation.  path NULL: the whole app changed (its config,
-- or the app was deleted).
CREATE TABLE route_changes (
    generation  BIGINT UNSIGNED  NOT NULL,
    app_name    VARCHAR(30)      NOT NULL,
    path        VARCHAR(255)     NULL,
    changed_at  DATETIME(6)      NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (generation),
    KEY route_changes_time (changed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
