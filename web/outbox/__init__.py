"""The transactional outbox: events written with their change, published after commit."""
