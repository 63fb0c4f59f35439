"""scsampler"""
