-- Users table.
CREATE TABLE users (
  id INT PRIMARY KEY,
  name TEXT
);

CREATE INDEX idx_users_name ON users (name);

INSERT INTO users VALUES (1, 'a');
SELECT * FROM users WHERE id = 1;

CREATE FUNCTION add(a integer, b integer) RETURNS integer AS $$ SELECT a + b $$ LANGUAGE SQL;
